//! Helpers shared by the interop tests: finding peer tools, running `pki`, temporary dirs.
//!
//! A test that needs an external tool calls [`require_tool`]. Under `CI=true` a missing tool is
//! a failure (the test command installs every peer); locally the test is skipped with a loud
//! message on stderr.

pub mod pkcs11;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Whether we run under CI (`CI=true`), where every peer tool must be present.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Finds `tool` on PATH (or in the project's Python venv). Returns `None` (after printing a loud
/// SKIP line) when it is missing locally; panics under CI.
pub fn require_tool(tool: &str) -> Option<PathBuf> {
    if let Some(p) = find_tool(tool) {
        return Some(p);
    }
    if in_ci() {
        panic!("required peer tool `{tool}` is missing; scripts/test installs it on CI");
    }
    eprintln!("\n*** SKIP: `{tool}` is not installed; run scripts/install-test-deps to run this test ***\n");
    None
}

/// Finds a file that a Debian package installs (a PKCS#11 module, say); same rules as
/// [`require_tool`].
pub fn require_file(path: &str) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    if p.exists() {
        return Some(p);
    }
    if in_ci() {
        panic!("required file `{path}` is missing; scripts/test installs it on CI");
    }
    eprintln!("\n*** SKIP: `{path}` is not installed; run scripts/install-test-deps to run this test ***\n");
    None
}

/// Looks `tool` up on PATH and in `<workspace>/.venv/bin`.
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    let venv = workspace_root().join(".venv/bin").join(tool);
    if venv.is_file() {
        return Some(venv);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// The `fixtures/` directory.
pub fn fixtures() -> PathBuf {
    workspace_root().join("fixtures")
}

/// The `pki` binary built for this test run. Tests that use it declare
/// `pki-cli` as a dev-dependency so cargo builds it; we find it beside the test executable.
pub fn pki_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PKI_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test> -> target/<profile>/pki
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("pki")
}

/// Runs `pki` with `args`, returning its output.
pub fn pki(args: &[&str]) -> Output {
    Command::new(pki_bin())
        .args(args)
        .env("LANG", "C")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", pki_bin().display()))
}

/// Runs a command and returns its output, panicking with the command line if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// stdout and stderr of an output, as text, for assertions and failure messages.
pub fn text(o: &Output) -> String {
    format!(
        "status: {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
