#!/usr/bin/env bash
# Lambda init-time benchmark (docs/lambda-init.md): builds the five functions and the minimal
# `lambda_runtime` echo function with the `lambda` profile and the flags of
# scripts/build-lambda.sh, for this machine's architecture, in one cargo invocation (same
# features); then starts each bootstrap STARTS times (default 20) against a local stand-in for
# the Lambda runtime API, with the environment Lambda and template.yaml give it, and prints
# min/median/max from process start to the first GET /next, and each median's ratio to the echo
# function's. Rounds interleave the functions, so the ratios compare starts made under the same
# load. Run it on a Graviton machine for arm64 figures.
#
# Usage: scripts/lambda-init.sh [STARTS] [-- extra lambda-init arguments, e.g. --env KEY=VALUE]
# CARGO_TARGET_DIR is honoured (the fat-LTO builds take a while: keep one for them).
set -euo pipefail
cd "$(dirname "$0")/.."

starts=20
if [ $# -gt 0 ] && [ "$1" != "--" ]; then starts="$1"; shift; fi
[ "${1:-}" = "--" ] && shift

source scripts/lambda-flags.sh
target="$(rustc -vV | sed -n 's/^host: //p')"
target_dir="${CARGO_TARGET_DIR:-target}"
echo "== cargo build --profile lambda --target $target (RUSTFLAGS=$RUSTFLAGS)"
cargo build --profile lambda --target "$target" -p cdsearch-lambda -p lambda-init --bins
bin="$target_dir/$target/lambda"

# The environment template.yaml gives the functions (Globals plus each function's own) and the
# memory sizes of its defaults; Lambda's own variables are set by lambda-init.
stack=cdsearch
exec "$bin/lambda-init" --starts "$starts" \
  --baseline "echo=$bin/lambda-echo" \
  --function "manager=$bin/cdsearch-manager" \
  --function "worker=$bin/cdsearch-worker" \
  --function "monitor=$bin/cdsearch-monitor" \
  --function "combiner=$bin/cdsearch-combiner" \
  --function "api=$bin/api" \
  --env RUST_LOG=info \
  --env BURST_TASKS_TABLE="$stack-TaskTable-1A2B3C4D5E6F" \
  --env BURST_SEARCH_BUCKET="$stack-searchbucket-1a2b3c4d5e6f" \
  --env BURST_MANAGER_FUNCTION="$stack-manager" \
  --env BURST_WORKER_FUNCTION="$stack-worker" \
  --env BURST_MONITOR_FUNCTION="$stack-monitor" \
  --env BURST_COMBINER_FUNCTION="$stack-combiner" \
  --env "manager:BURST_STATE_MACHINE_ARN=arn:aws:states:us-east-1:123456789012:stateMachine:$stack-monitor" \
  --env 'api:CDSEARCH_LIBRARIES=[{"name":"FlyEM_Hemibrain","bucket":"my-libs","folder":"JRC2018_Unisex_20x_HR/FlyEM_Hemibrain_v1.2.1/searchable_neurons","lsize":44477}]' \
  --env manager:AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512 \
  --env worker:AWS_LAMBDA_FUNCTION_MEMORY_SIZE=2048 \
  --env monitor:AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 \
  --env combiner:AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024 \
  --env api:AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024 \
  --env echo:AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 \
  "$@"
