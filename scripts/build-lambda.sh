#!/usr/bin/env bash
# Builds the Lambda functions for Graviton (arm64, provided.al2023) with cargo-lambda, which
# cross-compiles through zig (no Docker). Installs cargo-lambda into .venv (scripts/aws-test-env.sh)
# and the Rust aarch64 target when they are missing. Output: target/lambda/<function>/bootstrap,
# which template.yaml's CodeUris point at: cdsearch-manager, cdsearch-worker, cdsearch-monitor,
# cdsearch-combiner, api and alerts (every bin of cdsearch-lambda). Extra arguments go to
# `cargo lambda build`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/cargo-lambda ]; then
  echo "== installing cargo-lambda (.venv)"
  bash scripts/aws-test-env.sh install
fi
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  echo "== adding the Rust target aarch64-unknown-linux-gnu"
  rustup target add aarch64-unknown-linux-gnu
fi

# The `lambda` profile (Cargo.toml): fat LTO, one codegen unit, stripped, panics abort, the
# AWS SDK and HTTP stack optimized for size; each function links only the clients it uses.
# scripts/lambda-flags.sh: the flags a profile cannot carry (no unwind tables).
source scripts/lambda-flags.sh
echo "== cargo lambda build --profile lambda --arm64 -p cdsearch-lambda (RUSTFLAGS=$RUSTFLAGS)"
PATH="$PWD/.venv/bin:$PATH" .venv/bin/cargo-lambda lambda build --profile lambda --arm64 -p cdsearch-lambda "$@"
echo "== bootstrap sizes"
for bootstrap in target/lambda/*/bootstrap; do
  [ -f "$bootstrap" ] && stat -c '%n %s' "$bootstrap" | awk '{ printf "%-40s %6.2f MB\n", $1, $2 / 1e6 }'
done
