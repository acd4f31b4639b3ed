//! The AWS backends against moto (S3, DynamoDB, Step Functions), one server per test.

mod common;

use burst::traits::collect_pages;
use burst::{
    all_attempts, all_completed, all_rows, AttemptKind, AttemptRecord, BackendError, BatchRow,
    JobSettings, JobSpec, JobState, JobStatus, ObjectStore, PutOutcome, StateMachineStarter,
    TaskTable,
};
use burst_aws::{DynamoTaskTable, S3ObjectStore, SfnStarter};
use common::{create_bucket, repo_root, Moto};
use serde_json::json;

fn row(job_id: &str, batch_id: u64, results: String, mime: &str) -> BatchRow {
    BatchRow {
        job_id: job_id.into(),
        batch_id,
        ttl: 1_900_000_000 + batch_id,
        results,
        results_mime_type: mime.into(),
        nresults: batch_id,
        attempt: 1,
        started_at_ms: 1_000,
        finished_at_ms: 1_000 + 250 * batch_id,
        usage: Default::default(),
    }
}

fn spec(job_id: &str) -> JobSpec {
    JobSpec {
        job_id: job_id.into(),
        dataset_start_index: 0,
        dataset_end_index: 50,
        batch_size: 10,
        num_batches: 5,
        num_levels: 2,
        branching_factor: 3,
        max_parallelism: 3000,
        search_timeout_secs: 60.0,
        start_time: "2026-01-01T00:00:00.000Z".into(),
        tasks_table_name: "tasks".into(),
        manager_function_name: "m".into(),
        monitor_function_name: "mon".into(),
        worker_function_name: "w".into(),
        combiner_function_name: "c".into(),
        job_parameters: json!({"x": 1}),
        settings: JobSettings::default(),
    }
}

#[tokio::test]
async fn s3_store_gets_ranges_puts_and_lists_in_pages() {
    let moto = Moto::start().await;
    let clients = moto.clients().await;
    create_bucket(&clients, "library").await;
    let store = S3ObjectStore::new(&clients, "library").with_page_size(2);

    let keys = [
        "lib/KEYS/0/keys_denormalized.json",
        "lib/a.png",
        "lib/b.png",
        "lib/c.png",
        "other/x",
    ];
    for (i, key) in keys.iter().enumerate() {
        store
            .put(key, format!("content-{i}").into_bytes())
            .await
            .unwrap();
    }
    assert_eq!(store.get("lib/b.png").await.unwrap(), b"content-2");
    assert_eq!(store.get_range("lib/b.png", 2..6).await.unwrap(), b"nten");
    assert_eq!(
        store.get_range("lib/b.png", 8..100).await.unwrap(),
        b"2",
        "clipped at the end"
    );
    assert_eq!(
        store.get_range("lib/b.png", 50..60).await.unwrap(),
        b"",
        "past the end"
    );

    let first = store.list("lib/", None).await.unwrap();
    assert_eq!(first.items.len(), 2);
    assert!(first.next.is_some());
    let listed = collect_pages(|token| {
        let store = &store;
        async move { store.list("lib/", token.as_deref()).await }
    })
    .await
    .unwrap();
    let names: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(names, &keys[..4]);
    assert_eq!(listed[1].size, 9);

    let missing = store.get("lib/missing.png").await.unwrap_err();
    assert!(
        matches!(&missing, BackendError::NotFound(m) if m.contains("s3://library/lib/missing.png")),
        "{missing}"
    );
}

#[tokio::test]
async fn dynamo_table_is_idempotent_counts_and_pages_consistently() {
    let moto = Moto::start().await;
    let table = DynamoTaskTable::new(&moto.clients().await, "tasks").with_page_size(2);
    table.create_table().await.unwrap();

    let large = serde_json::to_string(&vec!["x".repeat(100); 200]).unwrap();
    for batch in [3, 0, 4, 1, 2] {
        let outcome = table
            .put_row(&row(
                "job-a",
                batch,
                format!("[{batch}]"),
                "application/json",
            ))
            .await
            .unwrap();
        assert_eq!(outcome, PutOutcome::Inserted);
    }
    table
        .put_row(&row("job-b", 0, large.clone(), "application/json"))
        .await
        .unwrap();
    let again = table
        .put_row(&row("job-a", 3, "[\"second\"]".into(), "application/json"))
        .await
        .unwrap();
    assert_eq!(again, PutOutcome::AlreadyPresent);

    assert_eq!(table.count_rows("job-a").await.unwrap(), 5);
    assert_eq!(table.count_rows("job-b").await.unwrap(), 1);
    assert_eq!(table.count_rows("job-c").await.unwrap(), 0);

    let first = table.read_rows("job-a", None).await.unwrap();
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.next.as_deref(), Some("1"));
    let rows = all_rows(&table, "job-a").await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.batch_id).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
    assert_eq!(
        rows[3],
        row("job-a", 3, "[3]".into(), "application/json"),
        "the first write wins"
    );
    assert_eq!(all_rows(&table, "job-b").await.unwrap()[0].results, large);

    let completed = all_completed(&table, "job-a").await.unwrap();
    assert_eq!(completed.len(), 5);
    assert_eq!(completed[4].batch_id, 4);
    assert_eq!(completed[4].duration_secs, 1.0);

    let failed = AttemptRecord {
        job_id: "job-a".into(),
        batch_id: 2,
        attempt: 1,
        at_ms: 5,
        kind: AttemptKind::Failed {
            cause: "decode error in a.png".into(),
        },
    };
    let retried = AttemptRecord {
        attempt: 2,
        at_ms: 6,
        kind: AttemptKind::Retried,
        ..failed.clone()
    };
    let other = AttemptRecord {
        batch_id: 0,
        ..failed.clone()
    };
    for record in [&retried, &failed, &other] {
        table.record_attempt(record).await.unwrap();
    }
    assert_eq!(
        all_attempts(&table, "job-a").await.unwrap(),
        vec![other, failed, retried]
    );
    assert_eq!(
        table.count_rows("job-a").await.unwrap(),
        5,
        "attempt records are not counted as rows"
    );

    assert_eq!(table.get_status("job-a").await.unwrap(), None);
    let status = JobStatus {
        job_id: "job-a".into(),
        state: JobState::Succeeded,
        num_batches: 5,
        completed: 5,
        failed_batches: 0,
        start_time: "2026-01-01T00:00:00.000Z".into(),
        elapsed_secs: 3.5,
        outcome_key: Some("results/job-a.json".into()),
        error: None,
        job: spec("job-a"),
    };
    table.put_status(&status).await.unwrap();
    assert_eq!(table.get_status("job-a").await.unwrap(), Some(status));
}

#[tokio::test]
async fn sfn_accepts_the_monitor_definition_and_starts_idempotently() {
    let moto = Moto::start().await;
    let clients = moto.clients().await;
    let definition = std::fs::read_to_string(repo_root().join("statemachine/monitor.asl.json"))
        .unwrap()
        .replace(
            "${MonitorFunctionArn}",
            "arn:aws:lambda:us-east-1:123456789012:function:burst-monitor",
        )
        .replace(
            "${CombinerFunctionArn}",
            "arn:aws:lambda:us-east-1:123456789012:function:burst-combiner",
        );
    let created = clients
        .sfn()
        .create_state_machine()
        .name("burst-monitor")
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/burst-state-machine")
        .send()
        .await
        .unwrap();
    let starter = SfnStarter::new(&clients, created.state_machine_arn());
    let input = json!({"jobId": "job-1", "numBatches": 3});
    let arn = starter
        .start_execution("job-1", input.clone())
        .await
        .unwrap();
    assert!(arn.ends_with(":execution:burst-monitor:job-1"), "{arn}");
    let described = clients
        .sfn()
        .describe_execution()
        .execution_arn(&arn)
        .send()
        .await
        .unwrap();
    let sent: serde_json::Value = serde_json::from_str(described.input().unwrap()).unwrap();
    assert_eq!(sent, input);
    assert_eq!(
        starter.start_execution("job-1", input).await.unwrap(),
        arn,
        "a retried start is not an error"
    );

    let missing = SfnStarter::new(
        &clients,
        "arn:aws:states:us-east-1:123456789012:stateMachine:nope",
    );
    let err = missing
        .start_execution("job-2", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::NotFound(_)), "{err}");
}

/// moto's Step Functions executes definitions once configured to; its Lambda (without Docker)
/// answers every invocation with the task's input, so the states' data is ours to script.
#[tokio::test]
async fn the_monitor_definition_walks_its_choices_on_moto() {
    use aws_sdk_sfn::types::ExecutionStatus;

    let moto = Moto::start().await;
    let (status, _) = moto
        .api(
            "POST",
            "/moto-api/config",
            r#"{"lambda":{"use_docker":false},"stepfunctions":{"execute_state_machine":true}}"#,
        )
        .await;
    assert_eq!(status, 201);
    let clients = moto.clients().await;
    let definition = std::fs::read_to_string(repo_root().join("statemachine/monitor.asl.json"))
        .unwrap()
        .replace(
            "${MonitorFunctionArn}",
            "arn:aws:lambda:us-east-1:123456789012:function:burst-monitor",
        )
        .replace(
            "${CombinerFunctionArn}",
            "arn:aws:lambda:us-east-1:123456789012:function:burst-combiner",
        );
    let machine = clients
        .sfn()
        .create_state_machine()
        .name("burst-monitor")
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/burst-state-machine")
        .send()
        .await
        .unwrap()
        .state_machine_arn;
    let starter = SfnStarter::new(&clients, &machine);
    let sfn = &clients.sfn();
    let finish = |arn: String| async move {
        for _ in 0..100 {
            let described = sfn
                .describe_execution()
                .execution_arn(&arn)
                .send()
                .await
                .unwrap();
            if described.status() != &ExecutionStatus::Running {
                return described;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("execution {arn} did not end within 10 s");
    };
    let entered = |arn: String| async move {
        let history = sfn
            .get_execution_history()
            .execution_arn(&arn)
            .send()
            .await
            .unwrap();
        history
            .events()
            .iter()
            .filter_map(|e| e.state_entered_event_details().map(|d| d.name().to_owned()))
            .collect::<Vec<_>>()
    };

    let done = json!({"jobId": "done", "numRemaining": 0, "timedOut": false, "state": "succeeded"});
    let arn = starter.start_execution("done", done.clone()).await.unwrap();
    let ended = finish(arn.clone()).await;
    assert_eq!(ended.status(), &ExecutionStatus::Succeeded);
    let output: serde_json::Value = serde_json::from_str(ended.output().unwrap()).unwrap();
    assert_eq!(
        output, done,
        "JobSucceeded outputs $.outcome, the combiner's answer"
    );
    assert_eq!(
        entered(arn).await,
        [
            "Monitor",
            "CheckProgress",
            "Combine",
            "CheckOutcome",
            "JobSucceeded"
        ]
    );

    let timed_out =
        json!({"jobId": "late", "numRemaining": 3, "timedOut": true, "state": "timedOut"});
    let arn = starter.start_execution("late", timed_out).await.unwrap();
    let ended = finish(arn.clone()).await;
    assert_eq!(ended.status(), &ExecutionStatus::Failed);
    assert_eq!(ended.error(), Some("Burst.JobFailed"));
    assert_eq!(
        entered(arn).await,
        [
            "Monitor",
            "CheckProgress",
            "Combine",
            "CheckOutcome",
            "JobFailed"
        ]
    );

    let running = json!({"jobId": "busy", "numRemaining": 3, "timedOut": false});
    let arn = starter.start_execution("busy", running).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let states = entered(arn.clone()).await;
    let waits = states.iter().filter(|s| *s == "WaitForBatches").count();
    assert!(
        waits >= 2,
        "expected the monitor loop to poll repeatedly, got {states:?}"
    );
    assert!(!states.iter().any(|s| s == "Combine"), "{states:?}");
    sfn.stop_execution()
        .execution_arn(&arn)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn dynamo_delete_job_removes_rows_attempts_and_status_of_that_job_only() {
    let moto = Moto::start().await;
    // Pages of 7 keys: the 60 rows take several query pages and three BatchWriteItem calls each.
    let table = DynamoTaskTable::new(&moto.clients().await, "tasks").with_page_size(7);
    table.create_table().await.unwrap();
    for job in ["job-gone", "job-kept"] {
        for batch in 0..60 {
            table
                .put_row(&row(job, batch, format!("[{batch}]"), "application/json"))
                .await
                .unwrap();
        }
        for attempt in 1..=3 {
            table
                .record_attempt(&AttemptRecord {
                    job_id: job.into(),
                    batch_id: 4,
                    attempt,
                    at_ms: attempt.into(),
                    kind: AttemptKind::Retried,
                })
                .await
                .unwrap();
        }
        table
            .put_status(&JobStatus {
                job_id: job.into(),
                state: JobState::Succeeded,
                num_batches: 60,
                completed: 60,
                failed_batches: 0,
                start_time: "2026-01-01T00:00:00.000Z".into(),
                elapsed_secs: 1.0,
                outcome_key: None,
                error: None,
                job: spec(job),
            })
            .await
            .unwrap();
    }

    table.delete_job("job-gone").await.unwrap();
    assert_eq!(table.count_rows("job-gone").await.unwrap(), 0);
    assert!(all_rows(&table, "job-gone").await.unwrap().is_empty());
    assert!(all_attempts(&table, "job-gone").await.unwrap().is_empty());
    assert_eq!(table.get_status("job-gone").await.unwrap(), None);
    // The other job is untouched.
    assert_eq!(table.count_rows("job-kept").await.unwrap(), 60);
    assert_eq!(all_attempts(&table, "job-kept").await.unwrap().len(), 3);
    assert!(table.get_status("job-kept").await.unwrap().is_some());
    // Deleting a job with nothing left (or never there) succeeds.
    table.delete_job("job-gone").await.unwrap();
    table.delete_job("job-never").await.unwrap();
}
