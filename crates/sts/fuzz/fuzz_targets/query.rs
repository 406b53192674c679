//! Query API parsing: any query string / form body either parses or yields an AWS error,
//! and the typed getters never panic on what was parsed.
#![no_main]

use irsa_sts::protocol::QueryRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let query = std::str::from_utf8(&data[..split]).ok();
    let body = data.get(split + 1..);
    if let Ok(req) = QueryRequest::parse(query, body) {
        let _ = req.required("RoleName");
        let _ = req.optional_i64("DurationSeconds");
        let _ = req.optional_bool("SetAsDefault");
        let _ = req.list("ClientIDList");
        let _ = req.tags("Tags");
        let _ = req.struct_list("ContextEntries");
        let _ = irsa_sts::server::route(&req);
    }
});
