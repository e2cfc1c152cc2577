//! Locating the `tanli-server` executable under test.

use std::path::PathBuf;

/// Environment variable naming the server binary explicitly.
pub const SERVER_BIN_ENV: &str = "TANLI_SERVER_BIN";

/// The `tanli-server` binary: `$TANLI_SERVER_BIN`, else `target/<profile>/tanli-server` next to
/// the running test executable (`target/<profile>/deps/<test>`). Panics with the build command if
/// it is missing — the tests never build the server themselves.
pub fn server_bin() -> PathBuf {
    if let Some(path) = std::env::var_os(SERVER_BIN_ENV) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "{SERVER_BIN_ENV}={} does not name a file",
            path.display()
        );
        return path;
    }
    let exe = std::env::current_exe().expect("current_exe() of the test binary");
    let candidates: Vec<PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2) // target/<profile>/deps, then target/<profile>
        .map(|dir| dir.join("tanli-server"))
        .collect();
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "tanli-server binary not found (looked at {candidates:?}); \
                 run `cargo build --release --bins` first, with the same CARGO_TARGET_DIR and \
                 profile as the tests, or set {SERVER_BIN_ENV}"
            )
        })
}
