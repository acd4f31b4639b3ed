//! Test fixtures: a moto server (S3, DynamoDB, Step Functions emulator) started on a free
//! loopback port and killed on drop, and a scripted HTTP server that answers a fixed sequence
//! of responses (for throttling tests).
#![allow(dead_code)]

use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use burst_aws::{AwsClients, AwsSettings, RetryPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// A retry policy with short pauses, so throttling tests run in milliseconds.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(40),
    }
}

/// Clients for an emulator at `endpoint`.
pub async fn clients_for(endpoint: &str) -> AwsClients {
    let mut settings = AwsSettings::emulator(endpoint);
    settings.retry = fast_retries();
    settings.clients().await
}

/// A child process killed (and reaped) when dropped.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running moto server.
pub struct Moto {
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub endpoint: String,
    port: u16,
    _process: KillOnDrop,
}

/// Path of the `moto_server` executable: `$MOTO_SERVER`, else the repository's .venv.
fn moto_executable() -> PathBuf {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let path = repo_root().join(".venv/bin/moto_server");
    assert!(
        path.exists(),
        "moto_server not found at {}: run scripts/aws-test-env.sh install (or set MOTO_SERVER)",
        path.display()
    );
    path
}

impl Moto {
    /// Starts moto on a free port and waits until it answers (at most 30 s).
    pub async fn start() -> Moto {
        let port = free_port();
        let child = Command::new(moto_executable())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start moto_server");
        let moto = Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            _process: KillOnDrop(child),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((200, _)) = http(port, "GET", "/moto-api/", "").await {
                return moto;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on port {port} within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends a request to moto's own API (`/moto-api/...`).
    pub async fn api(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        http(self.port, method, path, body)
            .await
            .expect("moto API unreachable")
    }

    /// Clients pointed at this server.
    pub async fn clients(&self) -> AwsClients {
        clients_for(&self.endpoint).await
    }
}

/// Creates bucket `name` with `clients` (on an emulator), failing the test if it cannot.
pub async fn create_bucket(clients: &AwsClients, name: &str) {
    clients
        .s3()
        .create_bucket()
        .bucket(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("cannot create bucket {name}: {e:?}"));
}

/// A minimal HTTP/1.1 request to 127.0.0.1:`port`; returns status and body.
pub async fn http(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// One canned HTTP response.
#[derive(Debug, Clone)]
pub struct Canned {
    /// Status code.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

impl Canned {
    /// A response with a status, headers and body.
    pub fn new(status: u16, headers: &[(&str, &str)], body: &str) -> Self {
        Canned {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_owned(),
        }
    }
}

/// A request received by a [`Scripted`] server.
#[derive(Debug, Clone)]
pub struct Received {
    /// Request line, e.g. `POST /2015-03-31/functions/f/invocations HTTP/1.1`.
    pub line: String,
    /// Headers, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// An HTTP server answering the `script` in order, then `rest` forever; records every request.
pub struct Scripted {
    /// Base URL.
    pub endpoint: String,
    /// Requests received so far.
    pub received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Scripted {
    /// Starts the server on a free loopback port.
    pub async fn start(script: Vec<Canned>, rest: Canned) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind scripted server");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let Some(request) = read_request(&mut stream).await else {
                    continue;
                };
                let index = {
                    let mut log = log.lock().unwrap();
                    log.push(request);
                    log.len() - 1
                };
                let canned = script.get(index).unwrap_or(&rest);
                let _ = stream.write_all(render(canned).as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        });
        Scripted {
            endpoint,
            received,
            task,
        }
    }

    /// How many requests arrived.
    pub fn calls(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

fn render(canned: &Canned) -> String {
    let mut text = format!(
        "HTTP/1.1 {} Scripted\r\nContent-Length: {}\r\nConnection: close\r\n",
        canned.status,
        canned.body.len()
    );
    for (name, value) in &canned.headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(&canned.body);
    text
}

async fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let header_end = loop {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(pos) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let line = lines.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while data.len() < header_end + length {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
    }
    Some(Received {
        line,
        headers,
        body: data[header_end..].to_vec(),
    })
}
