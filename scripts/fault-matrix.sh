#!/usr/bin/env bash
# Runs burst's fault matrix (crates/burst/tests/fault_matrix.rs) over many seeds: one line per
# seed, then the tally, e.g. "fault matrix: 100/100 exact, 0 named errors, in 70.0 s".
# A run that ends neither exact nor with a named error fails the test (and this script).
# Usage: scripts/fault-matrix.sh [SEEDS (default 100)] [FIRST_SEED (default 0)]
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --tests -p burst --quiet
FAULT_MATRIX_SEEDS="${1:-100}" FAULT_MATRIX_FIRST_SEED="${2:-0}" \
    cargo test -p burst --quiet --test fault_matrix -- --nocapture \
    | grep -E '^(seed|fault matrix)'
