#!/usr/bin/env bash
# Runs every check and test of the project. This is the README's test command
# and what CI runs (.ci/run). It installs what it needs on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

# ---- AWS (burst-aws, cdsearch-lambda, template.yaml) -- begin ----
# Installs moto, cfn-lint, cargo-lambda (.venv) and asl-validator (node_modules), then lints
# template.yaml and statemachine/*.json. The emulator tests under `cargo test` start and stop
# moto and the Lambda emulator themselves, from these installs.
echo "== AWS test tools and static checks (cfn-lint, asl-validator)"
bash scripts/aws-test-env.sh lint
# ---- AWS -- end ----

echo "== cargo test"
cargo test --workspace
