//! Structured logs: one JSON object per line on stdout (CloudWatch Logs keeps them and Logs
//! Insights queries them), with the fields of the enclosing spans — handlers open a span with
//! `jobId` and `batchId`, so every line of a batch carries both.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber; the level comes from `RUST_LOG` (default `info`).
pub fn init() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .init();
}
