//! Progress reporting from long-running library functions to whoever draws it
//! (the CLI's progress bar, a log, or nothing).

/// Receives progress of a long operation; called from worker threads.
pub trait Progress: Sync {
    /// The operation starts and will process `total` items.
    fn start(&self, total: u64);
    /// `n` more items are done.
    fn advance(&self, n: u64);
    /// The operation is over.
    fn finish(&self);
}

/// No progress reporting.
impl Progress for () {
    fn start(&self, _total: u64) {}
    fn advance(&self, _n: u64) {}
    fn finish(&self) {}
}
