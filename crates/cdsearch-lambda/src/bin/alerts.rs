//! Lambda function: batched error alerts, run on a schedule (template.yaml's `AlertsSchedule`).
//! Each run reads the stack's log groups for ERROR and WARN lines since its checkpoint and posts
//! one report to the webhook in its secret (`burst_alerts`); a failed run leaves the checkpoint
//! where it was, so the next one reports the same lines. Errors are named (`Alerts.Post`,
//! `Alerts.SecretMissing`, ...).

use burst_alerts::aws::AwsAlerts;
use burst_alerts::{AlertsConfig, AlertsError};
use burst_aws::AwsSettings;
use lambda_runtime::{run, service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

fn diagnostic(error: AlertsError) -> Diagnostic {
    Diagnostic {
        error_type: error.name().to_owned(),
        error_message: error.to_string(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    cdsearch_lambda::logging::init();
    let region = std::env::var("AWS_REGION").unwrap_or_default();
    let config = AlertsConfig::from_vars(|name| std::env::var(name).ok(), region)?;
    let clients = AwsSettings::from_env().lambda_clients();
    let alerts = &AwsAlerts::new(config, &clients)?;
    run(service_fn(move |_: LambdaEvent<Value>| async move {
        let now_ms = burst::time::now_ms() as i64;
        alerts.run(now_ms).await.map_err(diagnostic)
    }))
    .await
}
