//! One batched report of a run's alerts: grouped by function and job, errors first, each line
//! linking to its log stream at its time, capped in lines and bytes with a count of what was
//! cut; as Slack-compatible JSON (`{"text": ...}` in Slack's mrkdwn).

use std::collections::BTreeMap;

use burst::time::iso_from_ms;
use serde_json::{json, Value};

use crate::event::{Alert, Level};

/// Size caps of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportLimits {
    /// Most alert lines shown.
    pub max_lines: usize,
    /// Most bytes of text (Slack takes 40,000 characters).
    pub max_bytes: usize,
    /// Longest message shown per line, in characters (longer ones end with `…`).
    pub max_message_chars: usize,
}

impl Default for ReportLimits {
    /// 40 lines, 30 KB, 300 characters per message.
    fn default() -> Self {
        ReportLimits {
            max_lines: 40,
            max_bytes: 30_000,
            max_message_chars: 300,
        }
    }
}

/// The failure queue's depth now and at the previous report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueDepth {
    /// Messages now.
    pub waiting: u64,
    /// Messages at the last report.
    pub previous: u64,
}

/// What a report is about besides its alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportContext {
    /// Whose report it is (the stack's name).
    pub title: String,
    /// The region, for the console links.
    pub region: String,
    /// Start of the time read (epoch ms).
    pub from_ms: i64,
    /// End of the time read (epoch ms).
    pub to_ms: i64,
    /// The failure queue's depth, when the deployment has one.
    pub failures: Option<QueueDepth>,
    /// How to see the failures (e.g. the command that lists a job's).
    pub failures_hint: String,
}

/// A report ready to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The message (Slack mrkdwn).
    pub text: String,
    /// Alert lines in the run.
    pub lines: usize,
    /// Alert lines shown.
    pub shown: usize,
    /// Errors in the run.
    pub errors: usize,
    /// Warnings in the run.
    pub warnings: usize,
}

impl Report {
    /// Alert lines not shown (over the caps).
    pub fn cut(&self) -> usize {
        self.lines - self.shown
    }

    /// The webhook's body.
    pub fn payload(&self) -> Value {
        json!({ "text": self.text })
    }
}

/// Room kept at the end of a report for the note of what was cut.
const CUT_NOTE_ROOM: usize = 200;

/// Builds the report of `alerts` (any order).
pub fn build_report(alerts: &[Alert], context: &ReportContext, limits: &ReportLimits) -> Report {
    let errors = alerts.iter().filter(|a| a.level == Level::Error).count();
    let warnings = alerts.len() - errors;
    let mut text = format!(
        "*{}*: {} and {} from {} to {}\n",
        escape(&context.title),
        plural(errors, "error"),
        plural(warnings, "warning"),
        iso_from_ms(context.from_ms.max(0) as u64),
        iso_from_ms(context.to_ms.max(0) as u64),
    );
    if let Some(depth) = context.failures {
        text.push_str(&format!(
            "Failure queue: {} ({:+} since the last report). {}\n",
            plural(depth.waiting as usize, "failed asynchronous invocation"),
            depth.waiting as i64 - depth.previous as i64,
            context.failures_hint
        ));
    }
    let budget = limits.max_bytes.saturating_sub(text.len() + CUT_NOTE_ROOM);
    let mut body = String::new();
    let mut shown = 0;
    let mut groups_shown = 0;
    let groups = groups(alerts);
    'groups: for ((function, job), members) in &groups {
        let mut section = format!("\n{}\n", group_header(function, job.as_deref(), members));
        let mut in_section = 0;
        for alert in members {
            let line = alert_line(alert, &context.region, limits.max_message_chars);
            let fits = body.len() + section.len() + line.len() <= budget;
            if shown + in_section >= limits.max_lines || !fits {
                if in_section > 0 {
                    body.push_str(&section);
                    shown += in_section;
                    groups_shown += 1;
                }
                break 'groups;
            }
            section.push_str(&line);
            in_section += 1;
        }
        body.push_str(&section);
        shown += in_section;
        groups_shown += 1;
    }
    text.push_str(&body);
    let cut = alerts.len() - shown;
    if cut > 0 {
        text.push_str(&format!(
            "\n_{} more {} (in {}) not shown: the report is capped at {} lines / {} bytes_\n",
            cut,
            if cut == 1 { "line" } else { "lines" },
            plural(
                groups.len() - groups_shown + usize::from(shown_partially(&groups, shown)),
                "group"
            ),
            limits.max_lines,
            limits.max_bytes
        ));
    }
    Report {
        text,
        lines: alerts.len(),
        shown,
        errors,
        warnings,
    }
}

/// Whether the last group shown lost some of its lines (it then counts among the cut groups).
fn shown_partially(groups: &[(GroupKey, Vec<&Alert>)], shown: usize) -> bool {
    let mut left = shown;
    for (_, members) in groups {
        if left < members.len() {
            return left > 0;
        }
        left -= members.len();
    }
    false
}

type GroupKey = (String, Option<String>);

/// The alerts by function and job, the groups with the most errors first (then the earliest),
/// each group's lines oldest first.
fn groups(alerts: &[Alert]) -> Vec<(GroupKey, Vec<&Alert>)> {
    let mut by_key: BTreeMap<GroupKey, Vec<&Alert>> = BTreeMap::new();
    for alert in alerts {
        by_key
            .entry((alert.function.clone(), alert.job_id.clone()))
            .or_default()
            .push(alert);
    }
    let mut groups: Vec<_> = by_key.into_iter().collect();
    for (_, members) in &mut groups {
        members.sort_by_key(|a| (a.event.timestamp_ms, a.event.id.clone()));
    }
    groups.sort_by_key(|(_, members)| {
        let errors = members.iter().filter(|a| a.level == Level::Error).count();
        (std::cmp::Reverse(errors), members[0].event.timestamp_ms)
    });
    groups
}

fn group_header(function: &str, job: Option<&str>, members: &[&Alert]) -> String {
    let errors = members.iter().filter(|a| a.level == Level::Error).count();
    let job = match job {
        Some(job) => format!("job `{}`", escape(job)),
        None => "no job".to_owned(),
    };
    format!(
        "*{}* · {job} · {}, {}",
        escape(function),
        plural(errors, "error"),
        plural(members.len() - errors, "warning")
    )
}

fn alert_line(alert: &Alert, region: &str, max_chars: usize) -> String {
    let iso = iso_from_ms(alert.event.timestamp_ms.max(0) as u64);
    let time = iso.split_once('T').map_or(iso.as_str(), |(_, t)| t);
    let batch = alert
        .batch_id
        .as_deref()
        .map(|b| format!(" batch {}", escape(b)))
        .unwrap_or_default();
    format!(
        "• `{time}` {}{batch}: {} <{}|log>\n",
        alert.level.as_str(),
        escape(&shorten(&alert.text, max_chars)),
        console_url(
            region,
            &alert.event.group,
            &alert.event.stream,
            alert.event.timestamp_ms
        )
    )
}

/// The CloudWatch console's page of log stream `stream` of `group`, from time `at_ms`. The
/// console's fragment encodes names as URI components with `%` written `$25`.
pub fn console_url(region: &str, group: &str, stream: &str, at_ms: i64) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:\
         log-groups/log-group/{}/log-events/{}$3Fstart$3D{at_ms}",
        console_encode(group),
        console_encode(stream)
    )
}

fn console_encode(name: &str) -> String {
    let mut out = String::new();
    for byte in name.bytes() {
        let unreserved = byte.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&byte);
        if unreserved {
            out.push(byte as char);
        } else {
            out.push_str(&format!("$25{byte:02X}"));
        }
    }
    out
}

/// Slack's mrkdwn escapes: `&`, `<` and `>`.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One line of at most `max_chars` characters (line breaks become spaces; `…` marks a cut).
fn shorten(text: &str, max_chars: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max_chars {
        return flat;
    }
    let mut short: String = flat.chars().take(max_chars.saturating_sub(1)).collect();
    short.push('…');
    short
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::LogEvent;

    fn alert(function: &str, job: Option<&str>, level: Level, ts: i64, text: &str) -> Alert {
        Alert {
            function: function.into(),
            job_id: job.map(str::to_owned),
            batch_id: None,
            level,
            text: text.into(),
            event: LogEvent {
                group: format!("/aws/lambda/{function}"),
                stream: "2026/12/07/[$LATEST]0a1b".into(),
                id: ts.to_string(),
                timestamp_ms: ts,
                message: String::new(),
            },
        }
    }

    fn context() -> ReportContext {
        ReportContext {
            title: "cds".into(),
            region: "eu-west-1".into(),
            from_ms: 0,
            to_ms: 300_000,
            failures: Some(QueueDepth {
                waiting: 3,
                previous: 1,
            }),
            failures_hint: "See them.".into(),
        }
    }

    #[test]
    fn console_links_encode_names_as_the_console_does() {
        assert_eq!(
            console_url(
                "eu-west-1",
                "/aws/lambda/cds-worker",
                "2026/12/07/[$LATEST]0a1b",
                42
            ),
            "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:\
             log-groups/log-group/$252Faws$252Flambda$252Fcds-worker/log-events/\
             2026$252F12$252F07$252F$255B$2524LATEST$255D0a1b$3Fstart$3D42"
        );
    }

    #[test]
    fn groups_by_function_and_job_with_errors_first() {
        let alerts = [
            alert(
                "cds-monitor",
                None,
                Level::Warn,
                1_000,
                "slow <poll> & more",
            ),
            alert(
                "cds-worker",
                Some("j1"),
                Level::Error,
                3_000,
                "batch failed",
            ),
            alert("cds-worker", Some("j1"), Level::Warn, 2_000, "retrying"),
        ];
        let report = build_report(&alerts, &context(), &ReportLimits::default());
        assert_eq!((report.lines, report.shown, report.cut()), (3, 3, 0));
        assert_eq!((report.errors, report.warnings), (1, 2));
        let text = &report.text;
        assert!(
            text.starts_with("*cds*: 1 error and 2 warnings from 1970-01-01T00:00:00.000Z"),
            "{text}"
        );
        assert!(text.contains("Failure queue: 3 failed asynchronous invocations (+2 since the last report). See them."));
        let worker = text
            .find("*cds-worker* · job `j1` · 1 error, 1 warning")
            .unwrap();
        let monitor = text
            .find("*cds-monitor* · no job · 0 errors, 1 warning")
            .unwrap();
        assert!(worker < monitor, "{text}");
        let retrying = text.find("WARN: retrying").unwrap();
        assert!(
            retrying < text.find("ERROR: batch failed").unwrap(),
            "oldest first"
        );
        assert!(text.contains("slow &lt;poll&gt; &amp; more"));
        assert!(!text.contains("not shown"));
        assert_eq!(report.payload()["text"], report.text);
    }

    #[test]
    fn a_report_over_its_caps_is_cut_with_a_count() {
        let alerts: Vec<Alert> = (0..50)
            .map(|i| {
                alert(
                    "cds-worker",
                    Some(&format!("j{}", i % 5)),
                    Level::Error,
                    i,
                    "x",
                )
            })
            .collect();
        let limits = ReportLimits {
            max_lines: 12,
            ..ReportLimits::default()
        };
        let report = build_report(&alerts, &context(), &limits);
        assert_eq!((report.shown, report.cut()), (12, 38));
        assert_eq!(report.text.matches("\n• ").count(), 12);
        assert!(report.text.contains("_38 more lines (in 4 groups) not shown: the report is capped at 12 lines / 30000 bytes_"), "{}", report.text);

        let long = "y".repeat(5_000);
        let alerts: Vec<Alert> = (0..50)
            .map(|i| alert("f", None, Level::Warn, i, &long))
            .collect();
        let limits = ReportLimits {
            max_bytes: 4_000,
            ..ReportLimits::default()
        };
        let report = build_report(&alerts, &context(), &limits);
        assert!(report.text.len() <= 4_000, "{}", report.text.len());
        assert!(report.shown > 0 && report.cut() > 0);
        assert!(report.text.contains(&format!("{}…", "y".repeat(299))));
        assert!(report.text.contains(&format!(
            "_{} more lines (in 1 group) not shown",
            report.cut()
        )));
    }
}
