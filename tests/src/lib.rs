//! Test support for vpce-guard's integration and end-to-end tests, and the demo:
//!
//! - [`moto`] starts the strict moto fixture (`tests/fixture/moto_strict.py`) on 127.0.0.1
//!   and talks to its control API;
//! - [`seed`] builds accounts in it through the real AWS SDK and reads their state back;
//! - [`runtime`] is a minimal Lambda Runtime API that drives the real function binaries;
//! - [`events`] loads the files of `events/` with their ids rewritten.

pub mod events;
pub mod http;
pub mod moto;
pub mod proxy;
pub mod runtime;
pub mod seed;

use std::path::PathBuf;

/// The workspace root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// A built binary of the workspace (`target/debug/<name>`), honouring `CARGO_TARGET_DIR`.
/// The README's test command builds them first (`cargo build --workspace --all-targets`).
pub fn binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target"));
    let path = target.join("debug").join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace first with `cargo build --workspace --all-targets`",
        path.display()
    );
    path
}
