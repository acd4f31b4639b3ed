#!/usr/bin/env bash
# Runs every check and test of the project. This is the README's test command
# and what CI runs (.ci/run). It installs what it needs on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

# --all-features: the CLI's AWS commands (feature `aws`) are linted and tested too.
echo "== cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings

# ---- AWS (burst-aws, cdsearch-lambda, template.yaml) -- begin ----
# Installs moto, cfn-lint, cargo-lambda (.venv) and asl-validator (node_modules), then lints
# template.yaml and statemachine/*.json. The emulator tests under `cargo test` start and stop
# moto and the Lambda emulator themselves, from these installs.
echo "== AWS test tools and static checks (cfn-lint, asl-validator)"
bash scripts/aws-test-env.sh lint
# ---- AWS -- end ----

echo "== cargo test"
cargo test --workspace --all-features

# ---- API contract (schemathesis against `cdsearch serve`) -- begin ----
# Installs schemathesis into .venv, starts the server on a free loopback port with a temporary
# data directory and runs every check over the generated requests of /openapi.json: 0 failures.
echo "== API contract (schemathesis)"
bash scripts/api-contract.sh
# ---- API contract -- end ----

# ---- aarch64 (Graviton, what template.yaml deploys) -- begin ----
# Installs qemu-user, the aarch64 linker and the Rust target if missing, then runs the cds tests
# (golden scores, proptests of every scoring loop, NEON included) for aarch64 under emulation.
echo "== cds tests on aarch64 (qemu)"
bash scripts/test-aarch64.sh
# ---- aarch64 -- end ----

# ---- Web client end-to-end (headless Chromium) -- begin ----
# Installs Debian's chromium and playwright-core (tests/e2e) if missing, starts
# `cdsearch serve` on a free loopback port, searches from the page and checks the
# ranking against `cdsearch search`. Screenshot: test-artifacts/e2e-results.png.
echo "== e2e browser test"
bash scripts/e2e.sh
# ---- Web client end-to-end -- end ----
