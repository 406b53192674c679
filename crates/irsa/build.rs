//! Link-time settings of the `irsa` binary.
//!
//! On Linux with glibc the binary is linked with `-z pack-relative-relocs` (DT_RELR): the
//! ~50,000 relative relocations of a position-independent Rust binary shrink from a 1.2 MiB
//! `.rela.dyn` table, which the dynamic loader reads in full at every start and which then
//! stays resident, to a few kilobytes. The binary stays position-independent (ASLR). Both
//! linkers Rust uses (GNU ld ≥ 2.38, lld ≥ 15) support it and fall back to plain RELA when the
//! C library lacks DT_RELR support (glibc < 2.36). The webhook's resident set is one of its
//! goals (docs/webhook-serve.md, Benchmarks).

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
