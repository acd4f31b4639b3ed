//! Lambda init-time benchmark (`scripts/lambda-init.sh`; method and figures in
//! docs/lambda-init.md).
//!
//! Serves enough of the Lambda runtime API on 127.0.0.1 (it records when
//! `GET /2018-06-01/runtime/invocation/next` arrives and never answers it), starts each bootstrap
//! with the environment Lambda gives a function, and times process start (just before `spawn`)
//! to the first `GET /next`: the function's init phase. Each round starts every bootstrap once,
//! the baseline (a minimal `lambda_runtime` echo function) included, in a rotating order, so
//! that the ratios compare starts made under the same load. Prints min/median/max per function
//! and the ratio of its median to the baseline's.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

/// The runtime API path a function polls for its next event once its init is done.
const NEXT_PATH: &str = "/2018-06-01/runtime/invocation/next";

const USAGE: &str = "\
lambda-init: times Lambda bootstraps from process start to their first GET /next

USAGE:
  lambda-init --baseline NAME=PATH [--function NAME=PATH]... [OPTIONS]

OPTIONS:
  --baseline NAME=PATH    The minimal bootstrap every function is compared with (required)
  --function NAME=PATH    A bootstrap to time, named NAME (repeatable)
  --env [NAME:]KEY=VALUE  An environment variable of every function, or of function NAME only
                          (repeatable; wins over the Lambda defaults below)
  --starts N              Timed starts per function (default 20)
  --warmup N              Untimed starts per function first, to fill the page cache (default 1)
  --timeout SECS          How long a start may take before it counts as failed (default 10)
  -h, --help              This text

Every bootstrap gets a clean environment holding what Lambda sets for a provided.al2023
function: AWS_LAMBDA_RUNTIME_API (this program), AWS_LAMBDA_FUNCTION_NAME (NAME),
AWS_LAMBDA_FUNCTION_VERSION, AWS_LAMBDA_FUNCTION_MEMORY_SIZE (128), AWS_LAMBDA_LOG_GROUP_NAME,
AWS_LAMBDA_LOG_STREAM_NAME, AWS_LAMBDA_INITIALIZATION_TYPE, _HANDLER, LAMBDA_TASK_ROOT,
LAMBDA_RUNTIME_DIR, AWS_REGION, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN (dummies), TZ, LANG, PATH; then the --env variables.";

/// One bootstrap to start.
#[derive(Debug, Clone, PartialEq)]
struct Bootstrap {
    name: String,
    path: PathBuf,
}

/// The command line.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    baseline: Bootstrap,
    functions: Vec<Bootstrap>,
    /// (function or every function, key, value), in the order given.
    env: Vec<(Option<String>, String, String)>,
    starts: usize,
    warmup: usize,
    timeout: Duration,
}

/// Splits `NAME=VALUE`, naming the flag when the `=` is missing.
fn split_assignment<'a>(flag: &str, text: &'a str) -> Result<(&'a str, &'a str), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name, value)),
        _ => Err(format!("{flag} expects NAME=VALUE, got {text:?}")),
    }
}

fn parse_bootstrap(flag: &str, text: &str) -> Result<Bootstrap, String> {
    let (name, path) = split_assignment(flag, text)?;
    Ok(Bootstrap {
        name: name.to_string(),
        path: PathBuf::from(path),
    })
}

/// `[NAME:]KEY=VALUE`: the function it is scoped to, the key and the value.
fn parse_env(text: &str) -> Result<(Option<String>, String, String), String> {
    let (target, value) = split_assignment("--env", text)?;
    let (function, key) = match target.split_once(':') {
        Some((function, key)) if !function.is_empty() && !key.is_empty() => {
            (Some(function.to_string()), key)
        }
        Some(_) => return Err(format!("--env expects [NAME:]KEY=VALUE, got {text:?}")),
        None => (None, target),
    };
    Ok((function, key.to_string(), value.to_string()))
}

fn parse_count(flag: &str, text: &str) -> Result<usize, String> {
    text.parse()
        .map_err(|_| format!("{flag} expects a whole number, got {text:?}"))
}

/// Parses the arguments after the program name; `Ok(None)` asks for the help text.
fn parse_options(args: &[String]) -> Result<Option<Options>, String> {
    let mut baseline = None;
    let mut functions = Vec::new();
    let mut env = Vec::new();
    let (mut starts, mut warmup, mut timeout) = (20, 1, Duration::from_secs(10));
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} expects a value (see --help)"))?;
        match flag.as_str() {
            "--baseline" => baseline = Some(parse_bootstrap(flag, value)?),
            "--function" => functions.push(parse_bootstrap(flag, value)?),
            "--env" => env.push(parse_env(value)?),
            "--starts" => starts = parse_count(flag, value)?,
            "--warmup" => warmup = parse_count(flag, value)?,
            "--timeout" => timeout = Duration::from_secs(parse_count(flag, value)? as u64),
            _ => return Err(format!("unknown argument {flag:?} (see --help)")),
        }
    }
    let baseline = baseline.ok_or("--baseline NAME=PATH is required (see --help)")?;
    if starts == 0 {
        return Err("--starts must be at least 1".into());
    }
    let mut names: Vec<&str> = functions.iter().map(|f| f.name.as_str()).collect();
    names.push(&baseline.name);
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(format!("two bootstraps are named {:?}", pair[0]));
    }
    Ok(Some(Options {
        baseline,
        functions,
        env,
        starts,
        warmup,
        timeout,
    }))
}

/// The environment of one start: Lambda's variables, then the `--env` ones that apply.
fn environment(
    options: &Options,
    bootstrap: &Bootstrap,
    runtime_api: &str,
) -> BTreeMap<String, String> {
    let task_root = bootstrap
        .path
        .parent()
        .unwrap_or(Path::new("."))
        .display()
        .to_string();
    let lambda = [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api),
        ("AWS_LAMBDA_FUNCTION_NAME", &bootstrap.name),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/init-bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]init"),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
        ("_HANDLER", "bootstrap"),
        ("LAMBDA_TASK_ROOT", &task_root),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "ASIAINITBENCHMARK000"),
        ("AWS_SECRET_ACCESS_KEY", "init-benchmark-secret"),
        ("AWS_SESSION_TOKEN", "init-benchmark-session-token"),
        ("TZ", ":UTC"),
        ("LANG", "en_US.UTF-8"),
        ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin"),
    ];
    let mut vars: BTreeMap<String, String> = lambda
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (function, key, value) in &options.env {
        if function.as_deref().is_none_or(|f| f == bootstrap.name) {
            vars.insert(key.clone(), value.clone());
        }
    }
    vars
}

/// What the runtime API server saw.
enum Request {
    /// A `GET /next` arrived at this instant.
    Next(Instant),
    /// Any other request (e.g. `POST /runtime/init/error`): its request line and body.
    Other(String),
}

/// Reads one request's head (and a short body); `None` when the peer went away first.
fn read_request(stream: &TcpStream) -> Option<(String, String)> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length.min(4096)];
    reader.read_exact(&mut body).ok()?;
    Some((
        request_line.trim_end().to_string(),
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

/// Serves one connection: reports each request; holds `GET /next` open (until the bootstrap is
/// killed), answers anything else with 202.
fn serve(mut stream: TcpStream, requests: Sender<Request>) {
    while let Some((line, body)) = read_request(&stream) {
        let at = Instant::now();
        let path = line.split_whitespace().nth(1).unwrap_or("");
        if line.starts_with("GET ") && path == NEXT_PATH {
            let _ = requests.send(Request::Next(at));
            // Hold: the bootstrap waits for an event until it is killed.
            let _ = stream.read_to_end(&mut Vec::new());
            return;
        }
        let _ = requests.send(Request::Other(format!("{line} {body}")));
        let reply = "HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}";
        if stream.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// Starts the runtime API server on 127.0.0.1; returns its `host:port` and its reports.
fn start_runtime_api() -> std::io::Result<(String, Receiver<Request>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?.to_string();
    let (sender, receiver) = channel();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = stream.set_nodelay(true);
            let sender = sender.clone();
            thread::spawn(move || serve(stream, sender));
        }
    });
    Ok((address, receiver))
}

/// Starts `bootstrap` once and returns the time from spawn to its first `GET /next`.
fn time_one_start(
    options: &Options,
    bootstrap: &Bootstrap,
    runtime_api: &str,
    requests: &Receiver<Request>,
    log: &Path,
) -> Result<Duration, String> {
    while requests.try_recv().is_ok() {}
    let output = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let errors = output
        .try_clone()
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let mut command = Command::new(&bootstrap.path);
    command
        .env_clear()
        .envs(environment(options, bootstrap, runtime_api))
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(errors);
    let started = Instant::now();
    let mut child = command.spawn().map_err(|e| {
        format!(
            "{}: cannot start {}: {e}",
            bootstrap.name,
            bootstrap.path.display()
        )
    })?;
    let outcome = loop {
        match requests.recv_timeout(Duration::from_millis(2)) {
            Ok(Request::Next(at)) => break Ok(at.duration_since(started)),
            Ok(Request::Other(request)) => {
                break Err(format!(
                    "{} sent {request} before GET /next",
                    bootstrap.name
                ))
            }
            Err(RecvTimeoutError::Disconnected) => break Err("runtime API server stopped".into()),
            Err(RecvTimeoutError::Timeout) => {}
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Err(format!(
                "{} exited ({status}) before GET /next",
                bootstrap.name
            ));
        }
        if started.elapsed() > options.timeout {
            break Err(format!(
                "{} sent no GET /next within {:?}",
                bootstrap.name, options.timeout
            ));
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    outcome.map_err(|error| {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(10).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!("{error}; its output ends:\n{}", tail.join("\n"))
    })
}

/// Min, median and max of a non-empty sample.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Summary {
    min: Duration,
    median: Duration,
    max: Duration,
}

fn summarize(samples: &[Duration]) -> Option<Summary> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    let median = match n {
        0 => return None,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    };
    Some(Summary {
        min: sorted[0],
        median,
        max: sorted[n - 1],
    })
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn run(options: &Options) -> Result<(), String> {
    let (runtime_api, requests) =
        start_runtime_api().map_err(|e| format!("cannot serve the runtime API: {e}"))?;
    let log_dir = std::env::temp_dir().join(format!("lambda-init-{}", std::process::id()));
    std::fs::create_dir_all(&log_dir).map_err(|e| format!("{}: {e}", log_dir.display()))?;
    let mut all = vec![options.baseline.clone()];
    all.extend(options.functions.iter().cloned());
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); all.len()];
    eprintln!(
        "runtime API on {runtime_api}; {} warm-up and {} timed starts of {} bootstraps",
        options.warmup,
        options.starts,
        all.len()
    );
    for round in 0..options.warmup + options.starts {
        // Rotate the order so that no function always starts right after the same one.
        for k in 0..all.len() {
            let i = (round + k) % all.len();
            let log = log_dir.join(format!("{}.log", all[i].name));
            let took = time_one_start(options, &all[i], &runtime_api, &requests, &log)?;
            if round >= options.warmup {
                samples[i].push(took);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&log_dir);
    let baseline = summarize(&samples[0]).expect("at least one start");
    println!(
        "{:<20} {:>8} {:>9} {:>9} {:>9} {:>14}",
        "function", "size MB", "min ms", "median ms", "max ms", "median ratio"
    );
    for (bootstrap, samples) in all.iter().zip(&samples) {
        let summary = summarize(samples).expect("at least one start");
        let size = std::fs::metadata(&bootstrap.path)
            .map(|m| m.len() as f64 / 1e6)
            .unwrap_or(f64::NAN);
        println!(
            "{:<20} {:>8.2} {:>9.2} {:>9.2} {:>9.2} {:>13.2}x",
            bootstrap.name,
            size,
            millis(summary.min),
            millis(summary.median),
            millis(summary.max),
            summary.median.as_secs_f64() / baseline.median.as_secs_f64()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse_options(&args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("lambda-init: {error}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lambda-init: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options_name_bootstraps_and_scope_variables() {
        let options = parse_options(&args(
            "--baseline echo=/b/echo --function worker=/b/worker --env worker:MEM=2048 \
             --env RUST_LOG=info --starts 5",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(options.baseline.name, "echo");
        assert_eq!(options.functions[0].path, PathBuf::from("/b/worker"));
        assert_eq!(options.starts, 5);
        assert_eq!(options.warmup, 1);
        let worker = environment(&options, &options.functions[0], "127.0.0.1:9");
        assert_eq!(worker["MEM"], "2048");
        assert_eq!(worker["RUST_LOG"], "info");
        assert_eq!(worker["AWS_LAMBDA_RUNTIME_API"], "127.0.0.1:9");
        assert_eq!(worker["AWS_LAMBDA_FUNCTION_NAME"], "worker");
        assert_eq!(worker["LAMBDA_TASK_ROOT"], "/b");
        let echo = environment(&options, &options.baseline, "127.0.0.1:9");
        assert!(!echo.contains_key("MEM"));
        assert_eq!(echo["RUST_LOG"], "info");
    }

    #[test]
    fn bad_arguments_are_named() {
        let error = |text: &str| parse_options(&args(text)).unwrap_err();
        assert!(error("--function w=/w").contains("--baseline"));
        assert!(error("--baseline echo").contains("NAME=VALUE"));
        assert!(error("--baseline e=/e --env :K=V").contains("[NAME:]KEY=VALUE"));
        assert!(error("--baseline e=/e --starts x").contains("whole number"));
        assert!(error("--baseline e=/e --function e=/f").contains("two bootstraps"));
        assert!(error("--baseline e=/e --bogus 1").contains("--bogus"));
        assert!(error("--baseline").contains("expects a value"));
    }

    #[test]
    fn summaries_take_the_middle_of_the_sorted_sample() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        let odd = summarize(&ms(&[9, 1, 5])).unwrap();
        assert_eq!(
            (odd.min, odd.median, odd.max),
            (
                Duration::from_millis(1),
                Duration::from_millis(5),
                Duration::from_millis(9)
            )
        );
        assert_eq!(
            summarize(&ms(&[4, 2, 8, 6])).unwrap().median,
            Duration::from_millis(5)
        );
        assert_eq!(summarize(&[]), None);
    }
}
