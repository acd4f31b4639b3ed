#!/usr/bin/env bash
# Runs the decoder fuzz loop (crates/cds-fuzz): mutated CDM fixtures fed to
# every decoder of cds::decode and to the mask loader, with panics caught
# and each input's heap growth counted. Prints the tally and how long it
# took; exits non-zero on any panic or allocation over the limit (the
# inputs are written to target/fuzz-failures/).
#
# Usage: scripts/fuzz-decoders.sh [ITERATIONS] [SEED]   (default 1000000, 1)
set -euo pipefail
cd "$(dirname "$0")/.."
iterations="${1:-1000000}"
seed="${2:-1}"
cargo build --release -q -p cds-fuzz --bin fuzz_decoders
start=$(date +%s)
target/release/fuzz_decoders --iterations "$iterations" --seed "$seed"
echo "wall time: $(( $(date +%s) - start )) s"
