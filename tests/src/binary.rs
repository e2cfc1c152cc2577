//! Locating the executables under test: `tanli-server` and `tanlictl`.

use std::path::PathBuf;

/// Environment variable naming the server binary explicitly.
pub const SERVER_BIN_ENV: &str = "TANLI_SERVER_BIN";
/// Environment variable naming the `tanlictl` binary explicitly.
pub const CTL_BIN_ENV: &str = "TANLICTL_BIN";

/// The `tanli-server` binary: `$TANLI_SERVER_BIN`, else `target/<profile>/tanli-server` next to
/// the running test executable (`target/<profile>/deps/<test>`). Panics with the build command if
/// it is missing — the tests never build the server themselves.
pub fn server_bin() -> PathBuf {
    bin("tanli-server", SERVER_BIN_ENV)
}

/// The `tanlictl` binary, found like [`server_bin`] (`$TANLICTL_BIN`, else beside the test).
pub fn ctl_bin() -> PathBuf {
    bin("tanlictl", CTL_BIN_ENV)
}

fn bin(name: &str, env: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "{env}={} does not name a file",
            path.display()
        );
        return path;
    }
    let exe = std::env::current_exe().expect("current_exe() of the test binary");
    let candidates: Vec<PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2) // target/<profile>/deps, then target/<profile>
        .map(|dir| dir.join(name))
        .collect();
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "{name} binary not found (looked at {candidates:?}); \
                 run `cargo build --release --bins` first, with the same CARGO_TARGET_DIR and \
                 profile as the tests, or set {env}"
            )
        })
}
