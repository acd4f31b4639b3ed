//! Structured logs: one JSON object per line on stdout (CloudWatch Logs keeps them and Logs
//! Insights queries them), with the fields of the enclosing spans — handlers open a span with
//! `jobId` and `batchId`, so every line of a batch carries both.

use tracing_subscriber::filter::LevelFilter;

/// The level of `RUST_LOG` (one of error, warn, info, debug, trace; default `info`). A level is
/// all a function needs, and it spares the bootstrap a regular-expression engine.
fn level(var: Option<String>) -> LevelFilter {
    var.and_then(|v| v.trim().parse().ok())
        .unwrap_or(LevelFilter::INFO)
}

/// Installs the JSON subscriber; the level comes from `RUST_LOG` (default `info`).
pub fn init() {
    tracing_subscriber::fmt()
        .json()
        .with_max_level(level(std::env::var("RUST_LOG").ok()))
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_comes_from_rust_log() {
        assert_eq!(level(None), LevelFilter::INFO);
        assert_eq!(level(Some("debug".into())), LevelFilter::DEBUG);
        assert_eq!(level(Some(" WARN ".into())), LevelFilter::WARN);
        assert_eq!(level(Some("cdsearch=trace,bad".into())), LevelFilter::INFO);
    }
}
