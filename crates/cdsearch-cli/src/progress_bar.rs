//! An indicatif progress bar behind the library's `Progress` trait, drawn
//! only when stderr is a terminal.

use cdsearch::progress::Progress;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// A progress bar on stderr, or nothing when stderr is not a terminal.
pub struct Bar {
    bar: Option<ProgressBar>,
    label: &'static str,
}

impl Bar {
    /// A bar labelled `label` (e.g. "searching"), shown only on a terminal.
    pub fn new(label: &'static str) -> Self {
        let bar = std::io::stderr().is_terminal().then(ProgressBar::hidden);
        Self { bar, label }
    }

    /// Moves the bar forward to `done` steps, for callers that report running totals (possibly
    /// out of order, from concurrent tasks).
    pub fn advance_to(&self, done: u64) {
        if let Some(bar) = &self.bar {
            if done > bar.position() {
                bar.set_position(done);
            }
        }
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_length(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg:>10} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_message(self.label);
        }
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
