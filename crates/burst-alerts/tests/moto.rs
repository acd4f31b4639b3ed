//! The alerts run against moto (CloudWatch Logs, Secrets Manager, SQS, DynamoDB) and a local
//! HTTP receiver standing in for the webhook: lines reported exactly once across runs, a failed
//! post retried by the next run without loss, a missing or malformed secret named, a report
//! over its cap cut with its count, the failure queue read without removing its messages.
//!
//! moto's FilterLogEvents does not implement the `?ERROR ?WARN ...` pattern (it returns every
//! line for it), so these runs also show that the levels are decided by `classify` from each
//! line's JSON `level`, not by the pattern.

#[path = "../../burst-aws/tests/common/mod.rs"]
mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use burst::time::now_ms;
use burst_alerts::aws::{
    logs_client, secrets_client, sqs_client, AwsAlerts, DynamoCheckpoint, SqsFailureQueue,
    CHECKPOINT_KEY,
};
use burst_alerts::run::{CheckpointStore, FailureCount};
use burst_alerts::{parse_record, AlertsConfig, AlertsError, ReportLimits};
use burst_aws::{AwsClients, DynamoTaskTable};
use common::Moto;
use serde_json::{json, Value};

const WORKER: &str = "/aws/lambda/cds-worker";
const MONITOR: &str = "/aws/lambda/cds-monitor";
const STREAM: &str = "2026/12/07/[$LATEST]0123456789abcdef";
const TABLE: &str = "tasks";

/// A webhook receiver: answers the scripted statuses in order, then 200; keeps every body.
struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
}

#[derive(Default)]
struct ReceiverState {
    bodies: Mutex<Vec<Value>>,
    script: Mutex<VecDeque<u16>>,
}

async fn receive(State(state): State<Arc<ReceiverState>>, Json(body): Json<Value>) -> StatusCode {
    state.bodies.lock().unwrap().push(body);
    let status = state.script.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    async fn start(script: &[u16]) -> Receiver {
        let state = Arc::new(ReceiverState::default());
        state.script.lock().unwrap().extend(script);
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, state }
    }

    /// The texts of the posts received so far.
    fn texts(&self) -> Vec<String> {
        let bodies = self.state.bodies.lock().unwrap();
        bodies
            .iter()
            .map(|b| b["text"].as_str().expect("a text field").to_owned())
            .collect()
    }
}

/// A deployment in moto: log groups, task table, webhook secret, failure queue.
struct Deployment {
    _moto: Moto,
    clients: AwsClients,
    queue_url: String,
    secret_arn: String,
}

impl Deployment {
    async fn start(secret_value: &str) -> Deployment {
        let moto = Moto::start().await;
        let clients = moto.clients().await;
        for group in [WORKER, MONITOR] {
            let logs = logs_client(&clients);
            logs.create_log_group()
                .log_group_name(group)
                .send()
                .await
                .unwrap();
            logs.create_log_stream()
                .log_group_name(group)
                .log_stream_name(STREAM)
                .send()
                .await
                .unwrap();
        }
        DynamoTaskTable::new(&clients, TABLE)
            .create_table()
            .await
            .unwrap();
        let secret_arn = secrets_client(&clients)
            .create_secret()
            .name("cds-alerts-webhook")
            .secret_string(secret_value)
            .send()
            .await
            .unwrap()
            .arn
            .unwrap();
        let queue_url = sqs_client(&clients)
            .create_queue()
            .queue_name("cds-failures")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        Deployment {
            _moto: moto,
            clients,
            queue_url,
            secret_arn,
        }
    }

    fn config(&self) -> AlertsConfig {
        AlertsConfig {
            title: "cds".into(),
            region: "us-east-1".into(),
            log_groups: vec![WORKER.into(), MONITOR.into()],
            webhook_secret: self.secret_arn.clone(),
            failure_queue: Some(self.queue_url.clone()),
            failures_hint: "`cdsearch jobs failures JOB_ID --stack cds` lists a job's.".into(),
            checkpoint_table: TABLE.into(),
            settle_ms: 60_000,
            first_lookback_ms: 900_000,
            max_events_per_group: 5000,
            limits: ReportLimits::default(),
        }
    }

    async fn alerts(&self, config: AlertsConfig) -> AwsAlerts {
        AwsAlerts::new(config, &self.clients).unwrap()
    }

    /// Logs `lines` (timestamp, JSON or text line) to `group`.
    async fn log(&self, group: &str, lines: &[(i64, String)]) {
        let events = lines.iter().map(|(ts, line)| {
            InputLogEvent::builder()
                .timestamp(*ts)
                .message(line)
                .build()
                .unwrap()
        });
        logs_client(&self.clients)
            .put_log_events()
            .log_group_name(group)
            .log_stream_name(STREAM)
            .set_log_events(Some(events.collect()))
            .send()
            .await
            .unwrap();
    }

    async fn send_failure(&self, record: &Value) {
        sqs_client(&self.clients)
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(record.to_string())
            .send()
            .await
            .unwrap();
    }
}

/// A line as the functions log it (tracing's JSON with the span's jobId and batchId).
fn line(level: &str, message: &str, job: Option<&str>, batch: Option<u64>) -> String {
    let mut span = json!({"name": "worker"});
    if let Some(job) = job {
        span["jobId"] = json!(job);
    }
    if let Some(batch) = batch {
        span["batchId"] = json!(batch);
    }
    json!({"timestamp": "2026-12-07T00:00:00.000000Z", "level": level, "message": message,
           "span": span})
    .to_string()
}

/// A destination record as Lambda writes it for a worker event that failed.
fn worker_failure(job: &str, batch: u64, condition: &str) -> Value {
    json!({
        "version": "1.0",
        "timestamp": "2026-12-07T00:00:05.568Z",
        "requestContext": {
            "requestId": format!("req-{job}-{batch}"),
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:cds-worker:$LATEST",
            "condition": condition,
            "approximateInvokeCount": 1
        },
        "requestPayload": {
            "tasksTableName": TABLE, "jobId": job, "batchId": batch, "startIndex": batch * 50,
            "endIndex": batch * 50 + 50, "jobParameters": {"libraries": []}, "attempt": 1
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                            "functionError": "Unhandled"},
        "responsePayload": {"errorType": "Burst.Throttled",
                            "errorMessage": "S3 GetObject: SlowDown (after 8 attempt(s))"}
    })
}

fn count(texts: &[String], needle: &str) -> usize {
    texts.iter().map(|t| t.matches(needle).count()).sum()
}

#[tokio::test]
async fn lines_are_reported_exactly_once_across_runs_and_a_failed_post_is_retried() {
    let deployment = Deployment::start("placeholder").await;
    let receiver = Receiver::start(&[500]).await;
    secrets_client(&deployment.clients)
        .put_secret_value()
        .secret_id(&deployment.secret_arn)
        .secret_string(json!({"url": receiver.url}).to_string())
        .send()
        .await
        .unwrap();
    let now = now_ms() as i64;
    deployment
        .log(
            WORKER,
            &[
                (
                    now - 300_000,
                    line("INFO", "batch done", Some("j1"), Some(2)),
                ),
                (
                    now - 299_000,
                    line(
                        "ERROR",
                        "batch failed: decode: bad PNG",
                        Some("j1"),
                        Some(3),
                    ),
                ),
                (
                    now - 298_000,
                    line("WARN", "retrying AWS call", Some("j1"), Some(4)),
                ),
                (
                    now - 30_000,
                    line("ERROR", "batch failed: late line", Some("j2"), Some(0)),
                ),
            ],
        )
        .await;
    deployment
        .log(
            MONITOR,
            &[(
                now - 200_000,
                "2026-12-07T00:00:00Z 1d2c Task timed out after 60.00 seconds".into(),
            )],
        )
        .await;
    deployment
        .send_failure(&worker_failure("j1", 3, "RetriesExhausted"))
        .await;
    deployment
        .send_failure(&worker_failure("j1", 5, "EventAgeExceeded"))
        .await;
    let alerts = deployment.alerts(deployment.config()).await;
    let checkpoints = DynamoCheckpoint::new(&deployment.clients, TABLE);

    // Run 1: the webhook answers 500; nothing is saved.
    let err = alerts.run(now).await.unwrap_err();
    assert_eq!(err.name(), "Alerts.Post", "{err}");
    assert!(err.to_string().contains("500"), "{err}");
    assert!(
        !err.to_string().contains(&receiver.url),
        "the URL is never shown: {err}"
    );
    assert_eq!(checkpoints.load().await.unwrap(), None);

    // Run 2: the same lines again, posted; the line still settling is left for later.
    let summary = alerts.run(now + 1_000).await.unwrap();
    assert!(summary.posted);
    assert_eq!(
        (summary.lines, summary.cut, summary.failures_waiting),
        (3, 0, Some(2))
    );
    let texts = receiver.texts();
    assert_eq!(texts.len(), 2);
    let body = |text: &str| text.split_once('\n').unwrap().1.to_owned();
    assert_eq!(
        body(&texts[0]),
        body(&texts[1]),
        "the retried report is the failed one"
    );
    let report = &texts[1];
    eprintln!("--- report of run 2 ---\n{report}\n---");
    assert!(
        report.starts_with("*cds*: 2 errors and 1 warning from "),
        "{report}"
    );
    assert!(report.contains("Failure queue: 2 failed asynchronous invocations (+2 since the last report). `cdsearch jobs failures JOB_ID --stack cds` lists a job's."), "{report}");
    assert!(
        report.contains("*cds-worker* · job `j1` · 1 error, 1 warning"),
        "{report}"
    );
    assert!(report.contains("ERROR batch 3: batch failed: decode: bad PNG <https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/$252Faws$252Flambda$252Fcds-worker/log-events/2026$252F12$252F07$252F$255B$2524LATEST$255D0123456789abcdef$3Fstart$3D"), "{report}");
    assert!(
        report.contains("WARN batch 4: retrying AWS call"),
        "{report}"
    );
    assert!(
        report.contains("*cds-monitor* · no job · 1 error, 0 warnings"),
        "{report}"
    );
    assert!(
        report.contains("Task timed out after 60.00 seconds"),
        "{report}"
    );
    assert!(
        !report.contains("batch done") && !report.contains("late line"),
        "{report}"
    );
    let stored = checkpoints.load().await.unwrap().unwrap();
    assert_eq!((stored.version, stored.checkpoint.queued_failures), (1, 2));
    assert_eq!(
        stored.checkpoint.groups[WORKER].from_ms,
        now + 1_000 - 60_000
    );

    // New lines; run 3 reports them and the settled one, nothing twice.
    deployment
        .log(
            WORKER,
            &[(
                now + 5_000,
                line("ERROR", "combine failed: no rows", Some("j3"), None),
            )],
        )
        .await;
    let summary = alerts.run(now + 120_000).await.unwrap();
    assert_eq!((summary.posted, summary.lines), (true, 2));
    let texts = receiver.texts();
    let third = &texts[2];
    assert!(
        third.contains("late line") && third.contains("combine failed: no rows"),
        "{third}"
    );
    assert!(third.contains("(+0 since the last report)"), "{third}");
    for needle in [
        "bad PNG",
        "retrying AWS call",
        "Task timed out",
        "late line",
        "no rows",
    ] {
        assert_eq!(count(&texts[1..], needle), 1, "{needle} reported once");
    }

    // Run 4: nothing new, nothing posted; the checkpoint still advances.
    let summary = alerts.run(now + 180_000).await.unwrap();
    assert_eq!((summary.posted, summary.lines), (false, 0));
    assert_eq!(receiver.texts().len(), 3);
    assert_eq!(checkpoints.load().await.unwrap().unwrap().version, 3);

    // A new failure-destination message alone is reported.
    deployment
        .send_failure(&worker_failure("j4", 0, "RetriesExhausted"))
        .await;
    let summary = alerts.run(now + 240_000).await.unwrap();
    assert_eq!(
        (summary.posted, summary.lines, summary.failures_waiting),
        (true, 0, Some(3))
    );
    assert!(receiver.texts()[3]
        .contains("Failure queue: 3 failed asynchronous invocations (+1 since the last report)"));
}

#[tokio::test]
async fn a_run_capped_per_group_continues_where_it_stopped() {
    let receiver = Receiver::start(&[]).await;
    let deployment = Deployment::start(&receiver.url).await;
    let now = now_ms() as i64;
    // Five lines share one millisecond: the cursor's ids keep them apart.
    let lines: Vec<(i64, String)> = (0..8)
        .map(|i| {
            let ts = now - 120_000 + if (2..7).contains(&i) { 0 } else { i };
            (
                ts,
                line("ERROR", &format!("failure #{i}"), Some("j"), Some(i as u64)),
            )
        })
        .collect();
    let mut sorted = lines.clone();
    sorted.sort_by_key(|(ts, _)| *ts);
    deployment.log(WORKER, &sorted).await;
    let mut config = deployment.config();
    config.max_events_per_group = 3;
    let alerts = deployment.alerts(config).await;
    let mut runs = 0;
    loop {
        let summary = alerts.run(now + runs * 1000).await.unwrap();
        runs += 1;
        if !summary.posted {
            break;
        }
        assert!(summary.lines <= 3);
        assert!(runs < 10, "the run must progress");
    }
    let texts = receiver.texts();
    for i in 0..8 {
        assert_eq!(
            count(&texts, &format!("failure #{i} ")),
            1,
            "failure #{i}: {texts:?}"
        );
    }
}

#[tokio::test]
async fn a_missing_or_malformed_secret_is_a_named_error() {
    let deployment = Deployment::start("hooks.slack.com/services/T0/B0/TOPSECRET").await;
    let now = now_ms() as i64;
    deployment
        .log(
            WORKER,
            &[(
                now - 120_000,
                line("ERROR", "batch failed", Some("j"), Some(1)),
            )],
        )
        .await;
    let malformed = deployment
        .alerts(deployment.config())
        .await
        .run(now)
        .await
        .unwrap_err();
    assert_eq!(malformed.name(), "Alerts.SecretMalformed");
    assert!(
        matches!(&malformed, AlertsError::SecretMalformed { reason, .. } if reason.contains("not a URL"))
    );
    let text = malformed.to_string();
    assert!(
        text.contains(&deployment.secret_arn) && !text.contains("TOPSECRET"),
        "{text}"
    );

    let mut config = deployment.config();
    config.webhook_secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nowhere".into();
    let missing = deployment.alerts(config).await.run(now).await.unwrap_err();
    assert_eq!(missing.name(), "Alerts.SecretMissing", "{missing}");
    assert!(
        missing.to_string().contains("secret:nowhere is missing"),
        "{missing}"
    );
    let checkpoints = DynamoCheckpoint::new(&deployment.clients, TABLE);
    assert_eq!(
        checkpoints.load().await.unwrap(),
        None,
        "nothing read, nothing saved"
    );
}

#[tokio::test]
async fn a_report_over_the_cap_is_cut_with_its_count() {
    let receiver = Receiver::start(&[]).await;
    let deployment = Deployment::start(&receiver.url).await;
    let now = now_ms() as i64;
    let lines: Vec<(i64, String)> = (0..60)
        .map(|i| {
            let job = format!("job-{}", i % 3);
            (
                now - 200_000 + i,
                line(
                    "ERROR",
                    &format!("batch failed #{i}"),
                    Some(&job),
                    Some(i as u64),
                ),
            )
        })
        .collect();
    deployment.log(WORKER, &lines).await;
    let summary = deployment
        .alerts(deployment.config())
        .await
        .run(now)
        .await
        .unwrap();
    assert_eq!((summary.lines, summary.cut), (60, 20));
    let text = &receiver.texts()[0];
    assert_eq!(text.matches("\n• ").count(), 40, "{text}");
    assert!(text.contains("_20 more lines (in 1 group) not shown: the report is capped at 40 lines / 30000 bytes_"), "{text}");
    assert!(text.len() <= 30_000);
    assert_eq!(summary.text, *text);
}

#[tokio::test]
async fn the_failure_queue_is_read_without_removing_its_messages() {
    let deployment = Deployment::start("https://hooks.example.com/x").await;
    for (job, batch) in [("j1", 1), ("j1", 2), ("j2", 0)] {
        deployment
            .send_failure(&worker_failure(job, batch, "RetriesExhausted"))
            .await;
    }
    deployment.send_failure(&json!({"not": "a record"})).await;
    let queue = SqsFailureQueue::new(&deployment.clients, &deployment.queue_url);
    for _ in 0..2 {
        let (bodies, more) = queue.peek(100).await.unwrap();
        assert_eq!((bodies.len(), more), (4, false));
        let failures: Vec<_> = bodies.iter().filter_map(|b| parse_record(b).ok()).collect();
        let mut of_j1: Vec<u64> = failures
            .iter()
            .filter(|f| f.job_id.as_deref() == Some("j1"))
            .filter_map(|f| f.batch_id)
            .collect();
        of_j1.sort();
        assert_eq!(of_j1, [1, 2]);
        assert_eq!(queue.waiting().await.unwrap(), 4, "all still there");
    }
    let (bodies, more) = queue.peek(2).await.unwrap();
    assert_eq!((bodies.len(), more), (2, true));
    assert_eq!(CHECKPOINT_KEY, "#alerts");
}
