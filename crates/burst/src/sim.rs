//! A pure simulation of a job's fan-out on Lambda: when does the last worker start, and what
//! does the job cost, for a given spawn tree. Used to choose `numLevels`.
//!
//! Model: a manager issues its invocations [`SimParams::invoke_concurrency`] at a time, each
//! taking [`SimParams::invoke_latency_secs`]; an invoked function starts after a cold start,
//! subject to Lambda's scaling limit ([`SimParams::burst_per_10s`] new execution environments
//! per 10 s per function) and the account's concurrency limit (a worker beyond it waits for
//! an earlier one to finish). Costs: Lambda requests and GB-seconds, Step Functions state
//! transitions of the monitor loop, DynamoDB writes of task rows and reads of the counts.

use std::fmt;

use crate::backends::EVENT_LIMIT_BYTES;
use crate::cost::Prices;
use crate::job::{JobRequest, ManagerEvent, MonitorState};
use crate::manager::{describe_job, Deployment};
use crate::plan::{Children, Plan};

/// Parameters of the simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct SimParams {
    /// Latency of one asynchronous invoke call, seconds (Lambda's async invoke: ~30 ms).
    pub invoke_latency_secs: f64,
    /// Invocations a manager keeps in flight.
    pub invoke_concurrency: usize,
    /// Time from invoke to the handler running in a new environment, seconds.
    pub cold_start_secs: f64,
    /// New execution environments per function per 10 s.
    pub burst_per_10s: u64,
    /// Account-wide concurrent executions.
    pub account_concurrency: u64,
    /// How long one worker runs, seconds.
    pub worker_duration_secs: f64,
    /// Worker memory, MB.
    pub worker_memory_mb: f64,
    /// Manager and monitor memory, MB.
    pub manager_memory_mb: f64,
    /// Size of one task row, bytes.
    pub row_bytes: u64,
    /// Size of the job parameters in every event, bytes.
    pub job_parameters_bytes: usize,
    /// Monitor poll interval, seconds.
    pub poll_secs: f64,
    /// Prices.
    pub prices: Prices,
}

impl Default for SimParams {
    fn default() -> Self {
        SimParams {
            invoke_latency_secs: 0.030,
            invoke_concurrency: crate::backends::INVOKE_CONCURRENCY,
            cold_start_secs: 0.25,
            burst_per_10s: 1000,
            account_concurrency: 1000,
            worker_duration_secs: 10.0,
            worker_memory_mb: 1024.0,
            manager_memory_mb: 256.0,
            row_bytes: 2048,
            job_parameters_bytes: 2048,
            poll_secs: 1.0,
            prices: Prices::default(),
        }
    }
}

/// Estimated cost of one job, USD.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cost {
    /// Lambda requests (managers, workers, monitor polls, combiner).
    pub lambda_requests: f64,
    /// Lambda GB-seconds.
    pub lambda_compute: f64,
    /// Step Functions transitions.
    pub step_functions: f64,
    /// DynamoDB reads and writes.
    pub dynamodb: f64,
}

impl Cost {
    /// Sum of all parts.
    pub fn total(&self) -> f64 {
        self.lambda_requests + self.lambda_compute + self.step_functions + self.dynamodb
    }
}

/// One simulated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct SimRow {
    /// Number of workers (batches).
    pub workers: u64,
    /// Manager levels.
    pub num_levels: u32,
    /// Fan-out of each manager.
    pub branching_factor: u64,
    /// Managers in the tree.
    pub managers: u64,
    /// Seconds from the job start until the last worker starts.
    pub last_worker_start_secs: f64,
    /// Seconds until the last worker ends.
    pub job_secs: f64,
    /// Estimated cost.
    pub cost: Cost,
    /// Largest event of the job (manager or monitor), bytes; must stay under 256 KB.
    pub max_event_bytes: usize,
}

/// The simulation table for several sizes and depths.
#[derive(Debug, Clone, PartialEq)]
pub struct FanoutTable {
    /// The parameters used.
    pub params: SimParams,
    /// One row per (workers, numLevels).
    pub rows: Vec<SimRow>,
}

/// Start times of environments requested at `requests` (sorted in place), given that the
/// function already started `already` environments and each one runs `duration` seconds.
fn admit(requests: &mut [f64], already: u64, duration: f64, p: &SimParams) -> Vec<f64> {
    requests.sort_by(f64::total_cmp);
    let mut starts: Vec<f64> = Vec::with_capacity(requests.len());
    for (k, &req) in requests.iter().enumerate() {
        let nth = already + k as u64;
        let mut t = req.max((nth / p.burst_per_10s.max(1)) as f64 * 10.0);
        let limit = p.account_concurrency.max(1) as usize;
        if k >= limit {
            t = t.max(starts[k - limit] + duration);
        }
        starts.push(t);
    }
    starts
}

/// Requested start times of `count` children of a manager that started at `start`.
fn child_requests(start: f64, count: u64, p: &SimParams) -> impl Iterator<Item = f64> + '_ {
    let c = p.invoke_concurrency.max(1) as u64;
    (0..count)
        .map(move |i| start + ((i / c) + 1) as f64 * p.invoke_latency_secs + p.cold_start_secs)
}

/// Seconds a manager runs to issue `count` invocations.
fn manager_secs(count: u64, p: &SimParams) -> f64 {
    count.div_ceil(p.invoke_concurrency.max(1) as u64) as f64 * p.invoke_latency_secs
}

/// Largest event of a job planned as `plan` with `job_parameters_bytes` of parameters.
fn max_event_bytes(plan: &Plan, job_parameters_bytes: usize) -> usize {
    let mut request = JobRequest::new(
        "worker",
        "combiner",
        plan.dataset_start,
        plan.dataset_end,
        plan.batch_size,
    );
    request.num_levels = plan.num_levels;
    request.max_parallelism = plan.num_batches.max(1);
    request.job_parameters = serde_json::json!({ "data": "x".repeat(job_parameters_bytes) });
    let Ok(job) = describe_job(
        &request,
        &Deployment::default(),
        uuid::Uuid::nil().to_string(),
        0,
    ) else {
        return 0;
    };
    let manager = ManagerEvent {
        level: 1,
        start_index: job.dataset_start_index,
        end_index: job.dataset_end_index,
        job: job.clone(),
    };
    let sizes = [
        serde_json::to_string(&manager).map_or(0, |s| s.len()),
        serde_json::to_string(&MonitorState::initial(job.clone())).map_or(0, |s| s.len()),
        serde_json::to_string(&job.worker_event(0, 1)).map_or(0, |s| s.len()),
    ];
    sizes.into_iter().max().unwrap_or(0)
}

/// Simulates one job planned as `plan`.
pub fn simulate(plan: &Plan, p: &SimParams) -> SimRow {
    let mut level: Vec<(f64, crate::plan::Node)> = vec![(p.cold_start_secs, plan.root())];
    let mut managers_started = 1u64;
    let mut manager_gb_secs = 0.0;
    let mut worker_requests = Vec::new();
    while !level.is_empty() {
        let mut next_requests = Vec::new();
        let mut next_nodes = Vec::new();
        for (start, node) in &level {
            match plan.children(node) {
                Children::Managers(kids) => {
                    manager_gb_secs +=
                        manager_secs(kids.len() as u64, p) * p.manager_memory_mb / 1024.0;
                    next_requests.extend(child_requests(*start, kids.len() as u64, p));
                    next_nodes.extend(kids);
                }
                Children::Workers(batches) => {
                    let n = batches.end - batches.start;
                    manager_gb_secs += manager_secs(n, p) * p.manager_memory_mb / 1024.0;
                    worker_requests.extend(child_requests(*start, n, p));
                }
            }
        }
        let starts = admit(&mut next_requests, managers_started, 0.0, p);
        managers_started += starts.len() as u64;
        level = starts.into_iter().zip(next_nodes).collect();
    }
    let worker_starts = admit(&mut worker_requests, 0, p.worker_duration_secs, p);
    let last_worker_start_secs = worker_starts.last().copied().unwrap_or(0.0);
    let job_secs = last_worker_start_secs + p.worker_duration_secs;
    let polls = (job_secs / p.poll_secs.max(1e-3)).ceil();
    let workers = plan.num_batches as f64;
    let requests = managers_started as f64 + workers + polls + 1.0;
    let monitor_gb_secs = (polls * 0.05 + 1.0) * p.manager_memory_mb / 1024.0;
    let worker_gb_secs = workers * p.worker_duration_secs * p.worker_memory_mb / 1024.0;
    let write_units = workers * p.row_bytes.div_ceil(1024) as f64 + 2.0;
    let read_units = polls
        * ((workers * p.row_bytes as f64 / 2.0) / 4096.0)
            .ceil()
            .max(1.0);
    let cost = Cost {
        lambda_requests: requests * p.prices.lambda_request,
        lambda_compute: (worker_gb_secs + manager_gb_secs + monitor_gb_secs)
            * p.prices.lambda_gb_second,
        step_functions: (polls * 3.0 + 4.0) * p.prices.state_transition,
        dynamodb: write_units * p.prices.dynamodb_write_unit
            + read_units * p.prices.dynamodb_read_unit,
    };
    SimRow {
        workers: plan.num_batches,
        num_levels: plan.num_levels,
        branching_factor: plan.branching_factor,
        managers: managers_started,
        last_worker_start_secs,
        job_secs,
        cost,
        max_event_bytes: max_event_bytes(plan, p.job_parameters_bytes),
    }
}

/// Simulates `workers` one-item batches for each depth in `levels`.
pub fn fanout_table(
    workers: &[u64],
    levels: std::ops::RangeInclusive<u32>,
    params: SimParams,
) -> FanoutTable {
    let mut rows = Vec::new();
    for &n in workers {
        for num_levels in levels.clone() {
            if let Ok(plan) = Plan::compute(0..n, 1, n.max(1), num_levels, None) {
                rows.push(simulate(&plan, &params));
            }
        }
    }
    FanoutTable { params, rows }
}

/// The standard report: 3,000 and 30,000 workers, numLevels 1 to 3, default parameters.
pub fn default_table() -> FanoutTable {
    fanout_table(&[3000, 30_000], 1..=3, SimParams::default())
}

impl fmt::Display for FanoutTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.params;
        writeln!(
            f,
            "invoke {:.0} ms, cold start {:.0} ms, {} new envs/10 s, account concurrency {}, worker {:.0} s at {:.0} MB",
            p.invoke_latency_secs * 1000.0,
            p.cold_start_secs * 1000.0,
            p.burst_per_10s,
            p.account_concurrency,
            p.worker_duration_secs,
            p.worker_memory_mb
        )?;
        writeln!(
            f,
            "{:>8} {:>6} {:>6} {:>8} {:>14} {:>9} {:>10} {:>10} {:>8} {:>9} {:>9} {:>11}",
            "workers",
            "levels",
            "fanout",
            "managers",
            "last start s",
            "job s",
            "lambda $",
            "compute $",
            "sfn $",
            "ddb $",
            "total $",
            "max event B"
        )?;
        for r in &self.rows {
            let flag = if r.max_event_bytes > EVENT_LIMIT_BYTES {
                " (over 256 KB!)"
            } else {
                ""
            };
            writeln!(
                f,
                "{:>8} {:>6} {:>6} {:>8} {:>14.2} {:>9.1} {:>10.4} {:>10.4} {:>8.4} {:>9.4} {:>9.4} {:>11}{flag}",
                r.workers,
                r.num_levels,
                r.branching_factor,
                r.managers,
                r.last_worker_start_secs,
                r.job_secs,
                r.cost.lambda_requests,
                r.cost.lambda_compute,
                r.cost.step_functions,
                r.cost.dynamodb,
                r.cost.total(),
                r.max_event_bytes
            )?;
        }
        Ok(())
    }
}

/// The levels of a plan's tree as text, e.g. `1 -> 55 managers -> 3000 workers`.
pub fn describe_tree(plan: &Plan) -> String {
    let managers: Vec<String> = plan
        .managers_per_level()
        .iter()
        .map(u64::to_string)
        .collect();
    format!(
        "{} managers -> {} workers (fan-out {})",
        managers.join(" -> "),
        plan.num_batches,
        plan.branching_factor
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_level_is_bounded_by_the_root_invoking_every_worker() {
        let p = SimParams::default();
        let plan = Plan::compute(0..3000, 1, 3000, 1, None).unwrap();
        let row = simulate(&plan, &p);
        assert_eq!(row.managers, 1);
        // 3000 invokes in waves of 16 at 30 ms = 188 waves = 5.64 s, but the 3000th worker
        // (index 2999) also needs the third 10-s scaling window, and beyond 1000 concurrent
        // workers it waits for the first ones to finish.
        assert!(row.last_worker_start_secs >= 20.0, "{row:?}");
    }

    #[test]
    fn scaling_limit_dominates_large_jobs_and_deeper_trees_start_faster() {
        let p = SimParams {
            account_concurrency: 100_000,
            ..SimParams::default()
        };
        let table = fanout_table(&[3000, 30_000], 1..=3, p);
        assert_eq!(table.rows.len(), 6);
        let t = |w, l| {
            table
                .rows
                .iter()
                .find(|r| r.workers == w && r.num_levels == l)
                .unwrap()
                .last_worker_start_secs
        };
        assert!(
            t(30_000, 1) > 56.0,
            "one manager issuing 30k invokes: {}",
            t(30_000, 1)
        );
        assert!(
            t(30_000, 2) >= 290.0,
            "30 scaling windows of 10 s: {}",
            t(30_000, 2)
        );
        assert_eq!(
            t(3000, 1),
            t(3000, 2),
            "both wait for the third scaling window"
        );
        assert!(t(3000, 2) >= 20.0);
        let unlimited = SimParams {
            account_concurrency: 100_000,
            burst_per_10s: 1_000_000,
            ..SimParams::default()
        };
        let fast = fanout_table(&[3000], 1..=2, unlimited);
        let (flat, deep) = (
            fast.rows[0].last_worker_start_secs,
            fast.rows[1].last_worker_start_secs,
        );
        // Flat: 188 waves of 16 invokes at 30 ms; two levels: 4 + 4 waves plus a cold start.
        assert!((flat - 6.14).abs() < 0.01, "{flat}");
        assert!((deep - 0.99).abs() < 0.01, "{deep}");
        assert!(table
            .rows
            .iter()
            .all(|r| r.max_event_bytes < EVENT_LIMIT_BYTES));
        assert!(table.to_string().contains("workers"));
    }

    #[test]
    fn costs_add_up() {
        let p = SimParams::default();
        let plan = Plan::compute(0..3000, 1, 3000, 2, None).unwrap();
        let row = simulate(&plan, &p);
        let compute = 3000.0 * 10.0 * 1.0 * p.prices.lambda_gb_second;
        assert!(row.cost.lambda_compute >= compute && row.cost.lambda_compute < compute * 1.01);
        assert!(
            (row.cost.total()
                - (row.cost.lambda_requests
                    + row.cost.lambda_compute
                    + row.cost.step_functions
                    + row.cost.dynamodb))
                .abs()
                < 1e-12
        );
        assert_eq!(
            describe_tree(&plan),
            "1 -> 55 managers -> 3000 workers (fan-out 55)"
        );
    }
}
