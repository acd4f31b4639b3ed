//! Log groups over CloudWatch Logs' FilterLogEvents.

use async_trait::async_trait;
use burst_aws::config::Service;
use burst_aws::retry::with_retries;
use burst_aws::{AwsClients, RetryPolicy};

use crate::error::AlertsError;
use crate::event::{LogEvent, FILTER_PATTERN};
use crate::run::LogSource;

/// The log groups of a deployment.
#[derive(Debug, Clone)]
pub struct CloudWatchLogs {
    client: aws_sdk_cloudwatchlogs::Client,
    retry: RetryPolicy,
}

/// Events per FilterLogEvents page (the API's maximum).
const PAGE_LIMIT: usize = 10_000;

/// The CloudWatch Logs client of `clients` (with its endpoint override, if any).
pub fn logs_client(clients: &AwsClients) -> aws_sdk_cloudwatchlogs::Client {
    let mut config = aws_sdk_cloudwatchlogs::config::Builder::from(clients.sdk_config());
    if let Some(url) = clients.endpoint(Service::Logs) {
        config = config.endpoint_url(url);
    }
    aws_sdk_cloudwatchlogs::Client::from_conf(config.build())
}

impl CloudWatchLogs {
    /// The log groups reached through `clients`.
    pub fn new(clients: &AwsClients) -> Self {
        CloudWatchLogs {
            client: logs_client(clients),
            retry: clients.retry,
        }
    }
}

#[async_trait]
impl LogSource for CloudWatchLogs {
    /// Pages through FilterLogEvents with [`FILTER_PATTERN`], which selects a superset of the
    /// alerts (`classify` decides; emulators that ignore the pattern return every line, which
    /// `classify` then filters). FilterLogEvents interleaves the group's streams by time.
    async fn events(
        &self,
        group: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<(Vec<LogEvent>, bool), AlertsError> {
        let mut events = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page_limit = (limit - events.len()).min(PAGE_LIMIT) as i32;
            let output = with_retries(&self.retry, "CloudWatch Logs FilterLogEvents", || {
                self.client
                    .filter_log_events()
                    .log_group_name(group)
                    .start_time(from_ms)
                    .end_time(to_ms)
                    .filter_pattern(FILTER_PATTERN)
                    .limit(page_limit)
                    .set_next_token(token.clone())
                    .send()
            })
            .await
            .map_err(|e| AlertsError::Logs {
                group: group.to_owned(),
                detail: format!("FilterLogEvents: {}", e.message),
            })?;
            for event in output.events.unwrap_or_default() {
                events.push(LogEvent {
                    group: group.to_owned(),
                    stream: event.log_stream_name.unwrap_or_default(),
                    id: event.event_id.unwrap_or_default(),
                    timestamp_ms: event.timestamp.unwrap_or_default(),
                    message: event.message.unwrap_or_default(),
                });
            }
            token = output.next_token.filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
            if events.len() >= limit {
                // Stable order within the page, so the cursor's "seen" ids are the first ones.
                events.sort_by_key(|e| e.timestamp_ms);
                return Ok((events, false));
            }
        }
        events.sort_by_key(|e| e.timestamp_ms);
        Ok((events, true))
    }
}
