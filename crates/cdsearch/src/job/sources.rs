//! Target sources a worker hands to the search: a contiguous part of a
//! shared source ([`SubSource`]) and targets already fetched as bytes
//! ([`FetchedTargets`]).

use std::ops::Range;
use std::sync::Arc;

use cds::pixel_match::CodedTarget;

use crate::results::ReadStats;
use crate::search::{TargetError, TargetNeed, TargetSource};

/// `range` clipped to `0..len`.
pub(crate) fn clip(range: Range<u64>, len: usize) -> Range<usize> {
    let start = usize::try_from(range.start).map_or(len, |s| s.min(len));
    let end = usize::try_from(range.end).map_or(len, |e| e.clamp(start, len));
    start..end
}

/// A contiguous part of a shared target source.
pub struct SubSource {
    inner: Arc<dyn TargetSource + Send + Sync>,
    range: Range<usize>,
}

impl SubSource {
    /// Targets `range` of `inner` (clipped to its length).
    pub fn new(inner: Arc<dyn TargetSource + Send + Sync>, range: Range<u64>) -> Self {
        let range = clip(range, inner.len());
        Self { inner, range }
    }
}

impl TargetSource for SubSource {
    fn len(&self) -> usize {
        self.range.len()
    }

    fn name(&self, index: usize) -> &str {
        self.inner.name(self.range.start + index)
    }

    fn load_into(
        &self,
        index: usize,
        need: &TargetNeed,
        out: &mut CodedTarget,
    ) -> Result<(), TargetError> {
        self.inner.load_into(self.range.start + index, need, out)
    }
}

/// Targets already fetched as bytes (e.g. from an object store), decoded on
/// demand.
pub struct FetchedTargets {
    targets: Vec<(String, Result<Vec<u8>, String>)>,
    reads: ReadStats,
}

impl FetchedTargets {
    /// Targets as (name, bytes or why they could not be fetched).
    pub fn new(targets: Vec<(String, Result<Vec<u8>, String>)>) -> Self {
        Self {
            targets,
            reads: ReadStats::default(),
        }
    }

    /// Reports `reads` as what fetching the targets took.
    pub fn with_reads(mut self, reads: ReadStats) -> Self {
        self.reads = reads;
        self
    }
}

impl TargetSource for FetchedTargets {
    fn len(&self) -> usize {
        self.targets.len()
    }

    fn name(&self, index: usize) -> &str {
        &self.targets[index].0
    }

    fn load_into(
        &self,
        index: usize,
        need: &TargetNeed,
        out: &mut CodedTarget,
    ) -> Result<(), TargetError> {
        match &self.targets[index].1 {
            Ok(bytes) => *out = need.code_bytes(bytes)?,
            Err(reason) => return Err(TargetError::Source(reason.clone())),
        }
        Ok(())
    }

    fn reads(&self) -> ReadStats {
        self.reads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_ranges_inside() {
        assert_eq!(clip(2..10, 5), 2..5);
        assert_eq!(clip(7..9, 5), 5..5);
        assert_eq!(clip(u64::MAX - 1..u64::MAX, 5), 5..5);
    }
}
