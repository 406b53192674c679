//! Benchmark helper: the fake Kubernetes API with N ServiceAccounts (every 10th annotated with
//! a role), on 127.0.0.1. Prints its URL on stdout, then serves until killed.
//!
//! `cargo run --release -p irsa-webhook --example bench_fake_api -- 10000 [PORT]`

use irsa_webhook::testing::FakeApi;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let port: u16 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let api = FakeApi::start_on(([127, 0, 0, 1], port).into()).await?;
    for i in 0..count {
        let name = format!("sa-{i}");
        let role = format!("arn:aws:iam::111122223333:role/{name}");
        if i % 10 == 0 {
            api.put_service_account("apps", &name, &[("eks.amazonaws.com/role-arn", &role)]);
        } else {
            api.put_service_account(
                "apps",
                &name,
                &[("kubectl.kubernetes.io/last-applied-configuration", "{}")],
            );
        }
    }
    println!("{}", api.url());
    std::future::pending::<()>().await;
    Ok(())
}
