//! Pure planning of a job: batch sizing and the spawn tree of managers (no I/O).
//!
//! A job over items `[start, end)` is cut into `numBatches = ceil(N / batchSize)` batches,
//! enlarging `batchSize` when that would exceed `maxParallelism`. Managers form a tree of
//! `numLevels` levels: the level-0 manager covers all batches, a manager at level `L` covers at
//! most `b^(numLevels - L)` consecutive batches and hands chunks of `b^(numLevels - L - 1)` to
//! at most `b` children; managers at the last level (`numLevels - 1`) invoke one worker per batch.

use std::ops::Range;

use crate::error::PlanError;
use crate::job::JobRequest;

/// Largest supported number of manager levels.
pub const MAX_LEVELS: u32 = 8;

/// The planned shape of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// First item (inclusive).
    pub dataset_start: u64,
    /// Last item (exclusive).
    pub dataset_end: u64,
    /// Effective items per batch.
    pub batch_size: u64,
    /// Number of batches (workers).
    pub num_batches: u64,
    /// Manager levels.
    pub num_levels: u32,
    /// Maximum children of a manager.
    pub branching_factor: u64,
}

/// A manager of the spawn tree: its level and the batches it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// 0 for the root.
    pub level: u32,
    /// Batch ids covered (contiguous).
    pub batches: Range<u64>,
}

/// What a manager starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Children {
    /// Managers one level down.
    Managers(Vec<Node>),
    /// One worker per batch id.
    Workers(Range<u64>),
}

/// Smallest `b >= 1` with `b^levels >= n` (exact integer arithmetic around a float estimate).
pub fn integer_root_ceil(n: u64, levels: u32) -> u64 {
    if n <= 1 || levels <= 1 {
        return n.max(1);
    }
    let covers = |b: u64| b.checked_pow(levels).is_none_or(|p| p >= n);
    let mut b = ((n as f64).powf(1.0 / levels as f64).ceil() as u64).max(1);
    while b > 1 && covers(b - 1) {
        b -= 1;
    }
    while !covers(b) {
        b += 1;
    }
    b
}

fn invalid(name: &'static str, value: impl ToString, expected: impl Into<String>) -> PlanError {
    PlanError::InvalidParameter {
        name,
        value: value.to_string(),
        expected: expected.into(),
    }
}

impl Plan {
    /// Plans a job request (batch size, number of batches, branching factor).
    pub fn new(request: &JobRequest) -> Result<Plan, PlanError> {
        Plan::compute(
            request.start_index..request.end_index,
            request.batch_size,
            request.max_parallelism,
            request.num_levels,
            request.branching_factor,
        )
    }

    /// Plans items `items` in batches of `batch_size`, at most `max_parallelism` batches,
    /// `num_levels` manager levels and, optionally, a given branching factor.
    pub fn compute(
        items: Range<u64>,
        batch_size: u64,
        max_parallelism: u64,
        num_levels: u32,
        branching_factor: Option<u64>,
    ) -> Result<Plan, PlanError> {
        if items.end < items.start {
            return Err(invalid(
                "endIndex",
                items.end,
                format!("at least startIndex ({})", items.start),
            ));
        }
        if batch_size == 0 {
            return Err(invalid("batchSize", 0, "at least 1"));
        }
        if max_parallelism == 0 {
            return Err(invalid("maxParallelism", 0, "at least 1"));
        }
        if num_levels == 0 || num_levels > MAX_LEVELS {
            return Err(invalid(
                "numLevels",
                num_levels,
                format!("1..={MAX_LEVELS}"),
            ));
        }
        let n = items.end - items.start;
        let mut batch_size = batch_size;
        let mut num_batches = n.div_ceil(batch_size);
        if num_batches > max_parallelism {
            batch_size = n.div_ceil(max_parallelism);
            num_batches = n.div_ceil(batch_size);
        }
        let needed = integer_root_ceil(num_batches, num_levels);
        let branching_factor = match branching_factor {
            None => needed,
            Some(b) if b >= needed => b,
            Some(b) => {
                return Err(invalid(
                    "branchingFactor",
                    b,
                    format!(
                        "at least {needed} so that {num_levels} levels reach {num_batches} batches"
                    ),
                ))
            }
        };
        Ok(Plan {
            dataset_start: items.start,
            dataset_end: items.end,
            batch_size,
            num_batches,
            num_levels,
            branching_factor,
        })
    }

    /// Item range of a batch.
    pub fn batch_items(&self, batch_id: u64) -> Range<u64> {
        let start = self.dataset_start + batch_id * self.batch_size;
        start..(start + self.batch_size).min(self.dataset_end)
    }

    /// Item range covered by a run of batches.
    pub fn items_of(&self, batches: &Range<u64>) -> Range<u64> {
        let start = self.dataset_start + batches.start * self.batch_size;
        let end = (self.dataset_start + batches.end * self.batch_size).min(self.dataset_end);
        start..end.max(start)
    }

    /// Batches whose items start in `items` (the inverse of [`Plan::items_of`]).
    pub fn batches_of(&self, items: &Range<u64>) -> Range<u64> {
        let first = (items.start - self.dataset_start).div_ceil(self.batch_size);
        let last = (items.end - self.dataset_start).div_ceil(self.batch_size);
        first.min(self.num_batches)..last.min(self.num_batches)
    }

    /// Most batches a manager at `level` may cover: `b^(numLevels - level)`, saturating.
    pub fn span(&self, level: u32) -> u64 {
        let exp = self.num_levels.saturating_sub(level);
        self.branching_factor
            .checked_pow(exp)
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// The level-0 manager.
    pub fn root(&self) -> Node {
        Node {
            level: 0,
            batches: 0..self.num_batches,
        }
    }

    /// What `node` starts: managers one level down, or (at the last level) workers.
    pub fn children(&self, node: &Node) -> Children {
        if node.level + 1 >= self.num_levels {
            return Children::Workers(node.batches.clone());
        }
        let chunk = self.span(node.level + 1);
        let mut managers = Vec::new();
        let mut start = node.batches.start;
        while start < node.batches.end {
            let end = start.saturating_add(chunk).min(node.batches.end);
            managers.push(Node {
                level: node.level + 1,
                batches: start..end,
            });
            start = end;
        }
        Children::Managers(managers)
    }

    /// Number of managers at each level, root first.
    pub fn managers_per_level(&self) -> Vec<u64> {
        (0..self.num_levels)
            .map(|level| {
                if level == 0 {
                    1
                } else {
                    self.num_batches.div_ceil(self.span(level))
                }
            })
            .collect()
    }

    /// Total number of managers (all levels).
    pub fn num_managers(&self) -> u64 {
        self.managers_per_level().iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn integer_root_fixes_float_off_by_one() {
        assert_eq!(integer_root_ceil(1000, 3), 10);
        assert_eq!(integer_root_ceil(1001, 3), 11);
        assert_eq!(integer_root_ceil(3000, 2), 55);
        assert_eq!(integer_root_ceil(3025, 2), 55);
        assert_eq!(integer_root_ceil(3026, 2), 56);
        assert_eq!(integer_root_ceil(125, 3), 5);
        assert_eq!(integer_root_ceil(0, 2), 1);
        assert_eq!(integer_root_ceil(7, 1), 7);
        assert_eq!(integer_root_ceil(u64::MAX, 2), 4_294_967_296);
    }

    #[test]
    fn batch_size_grows_to_respect_max_parallelism() {
        let plan = Plan::compute(0..1_000_000, 100, 3000, 2, None).unwrap();
        assert_eq!(plan.batch_size, 334);
        assert_eq!(plan.num_batches, 2995);
        assert_eq!(plan.branching_factor, 55);
        assert_eq!(plan.managers_per_level(), vec![1, 55]);
    }

    #[test]
    fn rejects_bad_parameters_naming_them() {
        let err = Plan::compute(0..10, 0, 10, 2, None).unwrap_err();
        assert!(err.to_string().contains("batchSize"), "{err}");
        let err = Plan::compute(0..100, 1, 3000, 2, Some(5)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid branchingFactor: 5 (expected at least 10 so that 2 levels reach 100 batches)"
        );
        let (start, end) = (5, 4);
        assert!(Plan::compute(start..end, 1, 1, 1, None).is_err());
        assert!(Plan::compute(0..4, 1, 1, 0, None).is_err());
    }

    #[test]
    fn empty_job_has_no_batches() {
        let plan = Plan::compute(7..7, 3, 10, 2, None).unwrap();
        assert_eq!(plan.num_batches, 0);
        assert_eq!(collect_workers(&plan), vec![]);
    }

    fn collect_workers(plan: &Plan) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        let mut stack = vec![plan.root()];
        while let Some(node) = stack.pop() {
            match plan.children(&node) {
                Children::Managers(kids) => stack.extend(kids),
                Children::Workers(batches) => out.extend(batches.map(|b| (b, node.level))),
            }
        }
        out.sort();
        out
    }

    proptest! {
        #[test]
        fn tree_covers_every_item_exactly_once(
            start in 0u64..1000,
            n in 0u64..20_000,
            batch_size in 1u64..500,
            max_parallelism in 1u64..4000,
            num_levels in 1u32..=4,
        ) {
            let plan = Plan::compute(start..start + n, batch_size, max_parallelism, num_levels, None).unwrap();
            prop_assert!(plan.num_batches <= max_parallelism);
            prop_assert!(plan.batch_size >= batch_size);
            prop_assert!(plan.branching_factor.checked_pow(num_levels).is_none_or(|p| p >= plan.num_batches));
            if plan.branching_factor > 1 {
                prop_assert!((plan.branching_factor - 1).pow(num_levels) < plan.num_batches);
            }
            let mut covered = vec![0u8; n as usize];
            let mut stack = vec![plan.root()];
            let mut workers = Vec::new();
            while let Some(node) = stack.pop() {
                prop_assert!(node.level < num_levels);
                prop_assert!(node.batches.end - node.batches.start <= plan.span(node.level));
                prop_assert_eq!(plan.batches_of(&plan.items_of(&node.batches)), node.batches.clone());
                match plan.children(&node) {
                    Children::Managers(kids) => {
                        prop_assert!(kids.len() as u64 <= plan.branching_factor);
                        stack.extend(kids);
                    }
                    Children::Workers(batches) => {
                        prop_assert_eq!(node.level, num_levels - 1);
                        prop_assert!(batches.end - batches.start <= plan.branching_factor);
                        for b in batches {
                            workers.push(b);
                            for item in plan.batch_items(b) {
                                covered[(item - start) as usize] += 1;
                            }
                        }
                    }
                }
            }
            workers.sort();
            prop_assert_eq!(workers, (0..plan.num_batches).collect::<Vec<_>>());
            prop_assert!(covered.iter().all(|&c| c == 1));
        }
    }
}
