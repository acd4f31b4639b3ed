//! `cargo lambda watch --only-lambda-apis` as the Lambda Invoke API, with function instances the
//! test starts itself from the binaries cargo built for the test run (no second build: cargo
//! lambda would otherwise `cargo run` each function in the dev profile).
//!
//! How the emulator behaves (cargo-lambda 1.9): an Invoke request, of any invocation type, is
//! queued for the function and answered only when an instance has run it, with the function's
//! response (200) or error (500, without `X-Amz-Function-Error`). Each instance takes one
//! invocation at a time from `/.rt/<function>/2018-06-01/runtime/invocation/next`, and several
//! instances of one function share its queue.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::{free_port, repo_root, KillOnDrop, Tools};

/// A running `cargo lambda watch` and the function instances started against it.
pub struct LambdaEmulator {
    /// Base URL of the Invoke API, `http://127.0.0.1:PORT`.
    pub endpoint: String,
    port: u16,
    logs: PathBuf,
    instances: Mutex<Vec<KillOnDrop>>,
    _watch: KillOnDrop,
}

/// A log file for a child process's stdout and stderr.
fn log_file(path: &Path) -> (Stdio, Stdio) {
    let file = File::create(path)
        .unwrap_or_else(|e| panic!("cannot create log file {}: {e}", path.display()));
    let copy = file
        .try_clone()
        .unwrap_or_else(|e| panic!("cannot reopen log file {}: {e}", path.display()));
    (Stdio::from(file), Stdio::from(copy))
}

impl LambdaEmulator {
    /// Starts the emulator on a free loopback port, logging to `logs/cargo-lambda-watch.log`, and
    /// waits until it accepts connections (at most 60 s: it reads the workspace's metadata).
    pub async fn start(tools: &Tools, logs: &Path) -> LambdaEmulator {
        let port = free_port();
        let (stdout, stderr) = log_file(&logs.join("cargo-lambda-watch.log"));
        let child = Command::new(&tools.cargo_lambda)
            .args(["lambda", "watch", "--only-lambda-apis", "--ignore-changes"])
            .args(["--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(port.to_string())
            .args(["--package", "cdsearch-lambda"])
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", tools.cargo_lambda.display()));
        let emulator = LambdaEmulator {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            logs: logs.to_path_buf(),
            instances: Mutex::new(Vec::new()),
            _watch: KillOnDrop(child),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not listen on port {port} within 60 s; see {}",
                logs.join("cargo-lambda-watch.log").display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        emulator
    }

    /// Starts `count` instances of function `name` from `executable`, with `env` added to the
    /// Lambda runtime's variables; their logs go to `<name>-<n>.log`.
    pub fn start_function(
        &self,
        name: &str,
        executable: &Path,
        env: &[(String, String)],
        count: usize,
    ) {
        let mut instances = self.instances.lock().unwrap();
        for n in 0..count {
            let (stdout, stderr) = log_file(&self.logs.join(format!("{name}-{n}.log")));
            let child = Command::new(executable)
                .env(
                    "AWS_LAMBDA_RUNTIME_API",
                    // A URL with a path: the runtime client then needs the scheme too.
                    format!("http://127.0.0.1:{}/.rt/{name}", self.port),
                )
                .env("AWS_LAMBDA_FUNCTION_NAME", name)
                .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048")
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", executable.display()));
            instances.push(KillOnDrop(child));
        }
    }

    /// The log files written so far, each as its name and its last `lines` lines.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.logs)
            .map(|dir| dir.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                let all: Vec<&str> = text.lines().collect();
                let tail = all[all.len().saturating_sub(lines)..].join("\n");
                format!("==> {} <==\n{tail}\n", path.display())
            })
            .collect()
    }
}
