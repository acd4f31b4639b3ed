//! Finding the emulators that `scripts/aws-test-env.sh install` puts in the repository's .venv.

use std::path::PathBuf;

use super::repo_root;

/// Set to skip the emulator tests on a machine without the tools (never set in CI).
pub const SKIP_VAR: &str = "CDS_SKIP_EMULATOR_TESTS";

/// Paths of the emulator executables.
#[derive(Debug, Clone)]
pub struct Tools {
    /// `moto_server` (S3, DynamoDB).
    pub moto_server: PathBuf,
    /// `cargo-lambda` (the Lambda Invoke and runtime APIs, `cargo lambda watch`).
    pub cargo_lambda: PathBuf,
}

/// `$var` if set, else `.venv/bin/<name>` in the repository.
fn tool(var: &str, name: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin").join(name))
}

impl Tools {
    /// The tools, or `None` (with a message saying why the test is skipped) when they are missing
    /// and [`SKIP_VAR`] is set. Without that variable a missing tool fails the test: CI must run
    /// these tests.
    pub fn find(test: &str) -> Option<Tools> {
        let tools = Tools {
            moto_server: tool("MOTO_SERVER", "moto_server"),
            cargo_lambda: tool("CARGO_LAMBDA", "cargo-lambda"),
        };
        let missing: Vec<String> = [&tools.moto_server, &tools.cargo_lambda]
            .into_iter()
            .filter(|path| !path.exists())
            .map(|path| path.display().to_string())
            .collect();
        if missing.is_empty() {
            return Some(tools);
        }
        let missing = missing.join(", ");
        if std::env::var_os(SKIP_VAR).is_some() {
            eprintln!("SKIPPED {test}: {missing} not found and {SKIP_VAR} is set");
            return None;
        }
        panic!(
            "{test}: {missing} not found: run scripts/aws-test-env.sh install \
             (or set {SKIP_VAR}=1 to skip the emulator tests)"
        );
    }
}
