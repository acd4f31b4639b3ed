//! Where each log group was read up to, kept durably between runs.
//!
//! A run reads each group over a window `[from, until)` that ends `settle` before now (so lines
//! still being ingested are left to the next run) and starts where the previous report ended.
//! Windows follow each other without gap or overlap, so every line falls in exactly one. When
//! a run stops early (its per-group event cap), the cursor stops at the last line read: the
//! timestamp, and the ids of the lines read at that very timestamp, which the next run skips.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::event::LogEvent;

/// How far each log group has been reported, and the failure queue's depth at the last report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// Per log group.
    pub groups: BTreeMap<String, Cursor>,
    /// Messages in the failure queue when the last report was posted.
    #[serde(default)]
    pub queued_failures: u64,
}

/// The position in one log group: every line before `from_ms` has been reported, and so have
/// the lines at `from_ms` whose ids are in `seen`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cursor {
    /// Epoch milliseconds.
    pub from_ms: i64,
    /// Ids of lines at `from_ms` already reported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<String>,
}

/// The window a run reads: `from_ms..=to_ms` (CloudWatch Logs' bounds are inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First millisecond.
    pub from_ms: i64,
    /// Last millisecond.
    pub to_ms: i64,
}

impl Cursor {
    /// The cursor of a group read for the first time: `lookback_ms` before `now_ms`.
    pub fn first(now_ms: i64, lookback_ms: i64) -> Self {
        Cursor {
            from_ms: now_ms - lookback_ms,
            seen: Vec::new(),
        }
    }

    /// The window to read at `now_ms`: from the cursor to `settle_ms` before now; none if that
    /// is empty.
    pub fn window(&self, now_ms: i64, settle_ms: i64) -> Option<Window> {
        let until = now_ms - settle_ms;
        (until > self.from_ms).then_some(Window {
            from_ms: self.from_ms,
            to_ms: until - 1,
        })
    }

    /// Whether `event` (read from this cursor's window) has not been reported yet.
    pub fn is_new(&self, event: &LogEvent) -> bool {
        event.timestamp_ms > self.from_ms
            || (event.timestamp_ms == self.from_ms && !self.seen.contains(&event.id))
    }

    /// The cursor after reporting `read` (the new lines of `window`, oldest first): past the
    /// window when it was read to its end (`complete`), else at the last line read.
    pub fn after(&self, window: Window, read: &[LogEvent], complete: bool) -> Cursor {
        let last = match read.last() {
            Some(last) if !complete => last.timestamp_ms,
            _ if complete => {
                return Cursor {
                    from_ms: window.to_ms + 1,
                    seen: Vec::new(),
                }
            }
            _ => return self.clone(),
        };
        let mut seen: Vec<String> = read
            .iter()
            .filter(|e| e.timestamp_ms == last)
            .map(|e| e.id.clone())
            .collect();
        if last == self.from_ms {
            seen.extend(self.seen.iter().cloned());
        }
        Cursor {
            from_ms: last,
            seen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ts: i64, id: &str) -> LogEvent {
        LogEvent {
            group: "g".into(),
            stream: "s".into(),
            id: id.into(),
            timestamp_ms: ts,
            message: String::new(),
        }
    }

    #[test]
    fn windows_follow_each_other_without_gap_or_overlap() {
        let cursor = Cursor::first(100_000, 60_000);
        let window = cursor.window(100_000, 10_000).unwrap();
        assert_eq!((window.from_ms, window.to_ms), (40_000, 89_999));
        let next = cursor.after(window, &[at(50_000, "a")], true);
        assert_eq!(
            next,
            Cursor {
                from_ms: 90_000,
                seen: vec![]
            }
        );
        assert_eq!(next.window(95_000, 10_000), None, "nothing settled yet");
        let later = next.window(130_000, 10_000).unwrap();
        assert_eq!((later.from_ms, later.to_ms), (90_000, 119_999));
    }

    #[test]
    fn a_capped_read_resumes_after_the_last_line_read() {
        let cursor = Cursor {
            from_ms: 10,
            seen: vec![],
        };
        let window = cursor.window(1_000, 0).unwrap();
        let read = [at(10, "a"), at(20, "b"), at(20, "c")];
        let next = cursor.after(window, &read, false);
        assert_eq!(
            next,
            Cursor {
                from_ms: 20,
                seen: vec!["b".into(), "c".into()]
            }
        );
        assert!(!next.is_new(&at(20, "b")) && next.is_new(&at(20, "d")));
        assert!(next.is_new(&at(21, "b")));
        // Many lines at one millisecond: the ids accumulate, so reading progresses.
        let again = next.after(next.window(1_000, 0).unwrap(), &[at(20, "d")], false);
        assert_eq!(again.from_ms, 20);
        assert_eq!(again.seen, ["d", "b", "c"]);
        assert_eq!(cursor.after(window, &[], false), cursor);
    }
}
