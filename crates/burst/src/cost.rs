//! What a job costs on AWS: requests, GB-seconds and dollars.
//!
//! Two ways in: [`estimate`] plans a job's cost from its shape (batches, managers) and a few
//! assumed figures (seconds per item, memory); [`Usage`] adds up what a job's invocations
//! measured of themselves (durations, memory, requests, bytes) and prices it with
//! [`Usage::cost`]. Pure arithmetic; prices are parameters with us-east-1 list prices as
//! defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Unit prices (USD).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Prices {
    /// Lambda, per request.
    pub lambda_request: f64,
    /// Lambda on arm64, per GB-second (first pricing tier).
    pub lambda_gb_second: f64,
    /// Step Functions standard workflows, per state transition.
    pub state_transition: f64,
    /// DynamoDB on demand, per write request unit.
    pub dynamodb_write_unit: f64,
    /// DynamoDB on demand, per read request unit.
    pub dynamodb_read_unit: f64,
    /// S3 standard, per GET request.
    pub s3_get: f64,
    /// S3 standard, per PUT request.
    pub s3_put: f64,
}

impl Default for Prices {
    /// us-east-1 list prices (2025): Lambda $0.20 per million requests and $0.0000133334 per
    /// arm64 GB-s; Step Functions $0.025 per 1,000 transitions; DynamoDB on demand $0.625 per
    /// million writes and $0.125 per million reads; S3 $0.0004 per 1,000 GETs and $0.005 per
    /// 1,000 PUTs.
    fn default() -> Self {
        Prices {
            lambda_request: 0.20 / 1e6,
            lambda_gb_second: 0.000_013_333_4,
            state_transition: 0.025 / 1e3,
            dynamodb_write_unit: 0.625 / 1e6,
            dynamodb_read_unit: 0.125 / 1e6,
            s3_get: 0.0004 / 1e3,
            s3_put: 0.005 / 1e3,
        }
    }
}

/// The shape of a job and the figures its cost depends on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CostInputs {
    /// Items searched.
    pub items: u64,
    /// Batches (worker invocations).
    pub batches: u64,
    /// Manager invocations (all levels).
    pub managers: u64,
    /// Worker memory, MB.
    pub worker_memory_mb: u64,
    /// Seconds a worker spends per item (all masks).
    pub secs_per_item: f64,
    /// Fixed seconds per worker (start, key list, result write).
    pub worker_overhead_secs: f64,
    /// Manager memory, MB.
    pub manager_memory_mb: u64,
    /// Seconds per manager invocation.
    pub manager_secs: f64,
    /// Monitor polls until the job ends (about its duration in seconds).
    pub monitor_polls: u64,
    /// Size of one task row, KB (its results), for DynamoDB capacity units.
    pub row_kb: f64,
    /// S3 GETs per item (1 when images are read one by one).
    pub gets_per_item: f64,
}

/// The estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CostEstimate {
    /// Lambda requests (workers, managers, monitor polls, combiner).
    pub lambda_requests: u64,
    /// Lambda GB-seconds (workers and managers; the small monitor and combiner are left out).
    pub gb_seconds: f64,
    /// Step Functions state transitions.
    pub state_transitions: u64,
    /// DynamoDB write request units.
    pub write_units: f64,
    /// DynamoDB read request units (COUNT polls and the combiner's read).
    pub read_units: f64,
    /// S3 GET requests.
    pub s3_gets: f64,
    /// Lambda cost, USD.
    pub lambda_usd: f64,
    /// Everything else (Step Functions, DynamoDB, S3), USD.
    pub other_usd: f64,
    /// Total, USD.
    pub total_usd: f64,
}

/// Transitions per monitor poll (Monitor, CheckProgress, WaitForBatches) plus the final ones.
pub const TRANSITIONS_PER_POLL: u64 = 3;
const FINAL_TRANSITIONS: u64 = 4;
/// Transitions a job's end adds to its polls' (statemachine/monitor.asl.json): Combine,
/// CheckOutcome and the end state, less the last poll's WaitForBatches that never came.
pub const COMBINE_TRANSITIONS: u64 = 2;

/// Estimates the cost of one job.
pub fn estimate(inputs: &CostInputs, prices: &Prices) -> CostEstimate {
    let items_per_batch = inputs.items as f64 / inputs.batches.max(1) as f64;
    let worker_secs = inputs.worker_overhead_secs + items_per_batch * inputs.secs_per_item;
    let gb = |mb: u64| mb as f64 / 1024.0;
    let gb_seconds = inputs.batches as f64 * gb(inputs.worker_memory_mb) * worker_secs
        + inputs.managers as f64 * gb(inputs.manager_memory_mb) * inputs.manager_secs;
    let lambda_requests = inputs.batches + inputs.managers + inputs.monitor_polls + 1;
    let state_transitions = inputs.monitor_polls * TRANSITIONS_PER_POLL + FINAL_TRANSITIONS;
    // Writes cost one unit per started KB; strongly consistent reads one unit per 4 KB read.
    let write_units = inputs.batches as f64 * inputs.row_kb.ceil().max(1.0);
    let table_reads = (inputs.batches as f64 * inputs.row_kb / 4.0).ceil();
    let read_units = table_reads * (inputs.monitor_polls + 1) as f64;
    let s3_gets = inputs.items as f64 * inputs.gets_per_item + inputs.batches as f64;
    let lambda_usd =
        lambda_requests as f64 * prices.lambda_request + gb_seconds * prices.lambda_gb_second;
    let other_usd = state_transitions as f64 * prices.state_transition
        + write_units * prices.dynamodb_write_unit
        + read_units * prices.dynamodb_read_unit
        + s3_gets * prices.s3_get;
    CostEstimate {
        lambda_requests,
        gb_seconds,
        state_transitions,
        write_units,
        read_units,
        s3_gets,
        lambda_usd,
        other_usd,
        total_usd: lambda_usd + other_usd,
    }
}

/// What one function's invocations of a job used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionUsage {
    /// Invocations.
    pub invocations: u64,
    /// Billed milliseconds: each invocation's measured duration rounded up to a millisecond.
    pub billed_ms: u64,
    /// Billed GB-seconds: each invocation's billed time times its configured memory.
    pub gb_seconds: f64,
}

/// The cost drivers of a job (or of one invocation), as its functions measured them: added up
/// from task rows, the monitor's state and the combiner's own figures.
///
/// On the local runtime the same fields count what the process did (its "functions" are
/// threads of one process; `cpuSeconds` is the process's CPU time over the job), so the dollar
/// figure says what the job would have cost on Lambda at the same durations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Usage {
    /// Per function role (`manager`, `worker`, `monitor`, `combiner`).
    pub functions: BTreeMap<String, FunctionUsage>,
    /// S3 GET requests (whole objects and ranges).
    pub s3_get_requests: u64,
    /// S3 PUT requests.
    pub s3_put_requests: u64,
    /// Bytes read from S3 (or from files on the local runtime).
    pub s3_bytes_read: u64,
    /// DynamoDB write request units (one per started KB of each item written).
    pub dynamodb_write_units: f64,
    /// DynamoDB read request units (strongly consistent: one per started 4 KB read).
    pub dynamodb_read_units: f64,
    /// Step Functions state transitions.
    pub state_transitions: u64,
    /// CPU seconds of the process (local runtime only; Lambda bills wall time).
    pub cpu_seconds: f64,
}

/// A [`Usage`] priced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageCost {
    /// Lambda requests and GB-seconds, USD.
    pub lambda_usd: f64,
    /// Step Functions transitions, USD.
    pub step_functions_usd: f64,
    /// DynamoDB request units, USD.
    pub dynamodb_usd: f64,
    /// S3 requests, USD.
    pub s3_usd: f64,
    /// Total, USD.
    pub total_usd: f64,
}

/// Memory of the function this process runs as, MB: Lambda's `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`;
/// 0 elsewhere (the local runtime has no memory setting, so its GB-seconds are 0 and its
/// durations and CPU seconds say what it used).
pub fn configured_memory_mb() -> u64 {
    std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// DynamoDB write units of writing one item of `item_bytes` bytes (standard writes: 1 KB each,
/// rounded up, at least one).
pub fn write_units(item_bytes: u64) -> f64 {
    item_bytes.div_ceil(1024).max(1) as f64
}

/// DynamoDB read units of a strongly consistent read or query of `bytes` bytes of items
/// (4 KB each, rounded up, at least one).
pub fn consistent_read_units(bytes: u64) -> f64 {
    bytes.div_ceil(4096).max(1) as f64
}

impl Usage {
    /// One invocation of `role` that ran `duration` with `memory_mb` MB.
    pub fn invocation(role: &str, duration: Duration, memory_mb: u64) -> Self {
        let billed_ms = duration.as_nanos().div_ceil(1_000_000) as u64;
        let mut usage = Usage::default();
        usage.functions.insert(
            role.to_owned(),
            FunctionUsage {
                invocations: 1,
                billed_ms,
                gb_seconds: billed_ms as f64 / 1000.0 * memory_mb as f64 / 1024.0,
            },
        );
        usage
    }

    /// Adds `other` to this usage.
    pub fn add(&mut self, other: &Usage) {
        for (role, f) in &other.functions {
            let mine = self.functions.entry(role.clone()).or_default();
            mine.invocations += f.invocations;
            mine.billed_ms += f.billed_ms;
            mine.gb_seconds += f.gb_seconds;
        }
        self.s3_get_requests += other.s3_get_requests;
        self.s3_put_requests += other.s3_put_requests;
        self.s3_bytes_read += other.s3_bytes_read;
        self.dynamodb_write_units += other.dynamodb_write_units;
        self.dynamodb_read_units += other.dynamodb_read_units;
        self.state_transitions += other.state_transitions;
        self.cpu_seconds += other.cpu_seconds;
    }

    /// Invocations of all functions.
    pub fn invocations(&self) -> u64 {
        self.functions.values().map(|f| f.invocations).sum()
    }

    /// GB-seconds of all functions.
    pub fn gb_seconds(&self) -> f64 {
        self.functions.values().map(|f| f.gb_seconds).sum()
    }

    /// One line for people: the dollars and the drivers behind them.
    pub fn summary(&self, cost: &UsageCost) -> String {
        format!(
            "${:.6} ({} invocations, {:.1} GB-s, {} S3 GETs, {:.1} MB read, {} S3 PUTs, \
             {} DynamoDB write and {} read units, {} state transitions)",
            cost.total_usd,
            self.invocations(),
            self.gb_seconds(),
            self.s3_get_requests,
            self.s3_bytes_read as f64 / 1e6,
            self.s3_put_requests,
            self.dynamodb_write_units,
            self.dynamodb_read_units,
            self.state_transitions
        )
    }

    /// The dollars of this usage at `prices`.
    pub fn cost(&self, prices: &Prices) -> UsageCost {
        let lambda_usd = self.invocations() as f64 * prices.lambda_request
            + self.gb_seconds() * prices.lambda_gb_second;
        let step_functions_usd = self.state_transitions as f64 * prices.state_transition;
        let dynamodb_usd = self.dynamodb_write_units * prices.dynamodb_write_unit
            + self.dynamodb_read_units * prices.dynamodb_read_unit;
        let s3_usd = self.s3_get_requests as f64 * prices.s3_get
            + self.s3_put_requests as f64 * prices.s3_put;
        UsageCost {
            lambda_usd,
            step_functions_usd,
            dynamodb_usd,
            s3_usd,
            total_usd: lambda_usd + step_functions_usd + dynamodb_usd + s3_usd,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocations_bill_whole_milliseconds_times_memory() {
        let usage = Usage::invocation("worker", Duration::from_micros(1_500_200), 2048);
        let worker = &usage.functions["worker"];
        assert_eq!(worker.invocations, 1);
        assert_eq!(worker.billed_ms, 1501);
        assert!((worker.gb_seconds - 3.002).abs() < 1e-12);
    }

    #[test]
    fn usage_adds_up_and_prices_at_list_prices() {
        let mut usage = Usage::invocation("worker", Duration::from_millis(1000), 1024);
        usage.add(&Usage::invocation(
            "worker",
            Duration::from_millis(3000),
            1024,
        ));
        usage.add(&Usage::invocation(
            "monitor",
            Duration::from_millis(20),
            256,
        ));
        usage.add(&Usage {
            s3_get_requests: 1000,
            s3_put_requests: 10,
            s3_bytes_read: 5_000_000,
            dynamodb_write_units: 2.0,
            dynamodb_read_units: 4.0,
            state_transitions: 40,
            ..Usage::default()
        });
        assert_eq!(usage.invocations(), 3);
        assert_eq!(usage.functions["worker"].billed_ms, 4000);
        assert!((usage.gb_seconds() - (4.0 + 0.005)).abs() < 1e-12);
        let cost = usage.cost(&Prices::default());
        let lambda = 3.0 * 0.2e-6 + 4.005 * 0.000_013_333_4;
        assert!((cost.lambda_usd - lambda).abs() < 1e-15);
        assert!((cost.step_functions_usd - 0.001).abs() < 1e-15);
        assert!((cost.dynamodb_usd - (2.0 * 0.625e-6 + 4.0 * 0.125e-6)).abs() < 1e-15);
        assert!((cost.s3_usd - (0.0004 + 0.000_05)).abs() < 1e-15);
        assert!((cost.total_usd - (lambda + 0.001 + 1.75e-6 + 0.000_45)).abs() < 1e-15);
        assert_eq!(
            usage.summary(&cost),
            "$0.001506 (3 invocations, 4.0 GB-s, 1000 S3 GETs, 5.0 MB read, 10 S3 PUTs, \
             2 DynamoDB write and 4 read units, 40 state transitions)"
        );
    }

    #[test]
    fn request_units_round_up_per_item_and_per_read() {
        assert_eq!(write_units(0), 1.0);
        assert_eq!(write_units(1024), 1.0);
        assert_eq!(write_units(1025), 2.0);
        assert_eq!(consistent_read_units(4096), 1.0);
        assert_eq!(consistent_read_units(4097), 2.0);
    }

    #[test]
    fn usage_reads_with_missing_fields() {
        let usage: Usage = serde_json::from_str(r#"{"s3GetRequests": 3}"#).unwrap();
        assert_eq!(usage.s3_get_requests, 3);
        assert!(usage.functions.is_empty());
    }

    #[test]
    fn a_million_images_on_3000_workers() {
        let inputs = CostInputs {
            items: 1_000_000,
            batches: 2995,
            managers: 56,
            worker_memory_mb: 2048,
            secs_per_item: 0.01,
            worker_overhead_secs: 1.0,
            manager_memory_mb: 512,
            manager_secs: 1.0,
            monitor_polls: 10,
            row_kb: 4.0,
            gets_per_item: 1.0,
        };
        let cost = estimate(&inputs, &Prices::default());
        assert_eq!(cost.lambda_requests, 2995 + 56 + 10 + 1);
        assert_eq!(cost.state_transitions, 34);
        // 2995 workers x 2 GB x (1 + 333.9 x 0.01) s + 56 x 0.5 GB x 1 s
        let expected_gbs = 2995.0 * 2.0 * (1.0 + 1_000_000.0 / 2995.0 * 0.01) + 28.0;
        assert!(
            (cost.gb_seconds - expected_gbs).abs() < 1e-6,
            "{}",
            cost.gb_seconds
        );
        assert!((cost.gb_seconds - 26_018.0).abs() < 0.01);
        assert_eq!(cost.write_units, 11_980.0);
        assert_eq!(cost.read_units, 2995.0 * 11.0);
        assert_eq!(cost.s3_gets, 1_002_995.0);
        assert!(
            (cost.lambda_usd - 0.347_52).abs() < 1e-5,
            "{}",
            cost.lambda_usd
        );
        assert!((cost.total_usd - (cost.lambda_usd + cost.other_usd)).abs() < 1e-12);
        assert!(
            (cost.other_usd - 0.413_65).abs() < 1e-5,
            "{}",
            cost.other_usd
        );
    }
}
