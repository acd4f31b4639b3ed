//! What a job costs on AWS: requests, GB-seconds and dollars, from the job's shape (batches,
//! managers) and a few measured or assumed figures (seconds per item, memory). Pure arithmetic;
//! prices are parameters with us-east-1 list prices as defaults.

use serde::Serialize;

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
}

impl Default for Prices {
    /// us-east-1 list prices (2025): Lambda $0.20 per million requests and $0.0000133334 per
    /// arm64 GB-s; Step Functions $0.025 per 1,000 transitions; DynamoDB on demand $0.625 per
    /// million writes and $0.125 per million reads; S3 $0.0004 per 1,000 GETs.
    fn default() -> Self {
        Prices {
            lambda_request: 0.20 / 1e6,
            lambda_gb_second: 0.000_013_333_4,
            state_transition: 0.025 / 1e3,
            dynamodb_write_unit: 0.625 / 1e6,
            dynamodb_read_unit: 0.125 / 1e6,
            s3_get: 0.0004 / 1e3,
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
const TRANSITIONS_PER_POLL: u64 = 3;
const FINAL_TRANSITIONS: u64 = 4;

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

#[cfg(test)]
mod tests {
    use super::*;

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
