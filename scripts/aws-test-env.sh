#!/usr/bin/env bash
# Installs the tools the AWS tests use, into the repository (nothing global):
#   .venv/         Python venv with moto[server] (S3/DynamoDB/Step Functions emulator),
#                  cfn-lint (SAM template checks) and cargo-lambda (Lambda emulator + arm64 builds)
#   .venv-checkov/ checkov (infrastructure-as-code security checks of template.yaml); its own
#                  venv because checkov pins many packages that moto and cfn-lint also use
#   node_modules/  asl-validator (Amazon States Language checks), from package.json
# Usage: scripts/aws-test-env.sh install   install (idempotent; quick when already there)
#        scripts/aws-test-env.sh env       print `export` lines that put the tools on PATH
#        scripts/aws-test-env.sh lint      cfn-lint and checkov on template.yaml, asl-validator on
#                                          statemachine/*.json
# The emulators themselves are started and stopped by the test fixtures
# (crates/burst-aws/tests/common; crates/cdsearch-lambda/tests/support runs whole jobs under
# `cargo lambda watch --only-lambda-apis`), on free loopback ports. Those tests fail when the
# tools are missing, unless CDS_SKIP_EMULATOR_TESTS is set.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/.venv"
# moto >= 5.1: S3 PutObject with If-None-Match: * (conditional create, added in 5.0.15), which
# the idempotency and object-store tests rely on.
PY_PACKAGES=("moto[server]>=5.1,<6" "cfn-lint==1.*" "cargo-lambda==1.*")
CHECKOV_VENV="$ROOT/.venv-checkov"
CHECKOV_PACKAGE="checkov==3.*"

install() {
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
  fi
  if ! "$VENV/bin/python" -c "import cfnlint, moto, sys; from importlib.metadata import version; \
        sys.exit(tuple(map(int, version('moto').split('.')[:2])) < (5, 1))" 2>/dev/null \
      || [ ! -x "$VENV/bin/cargo-lambda" ]; then
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet "${PY_PACKAGES[@]}"
  fi
  if [ ! -x "$CHECKOV_VENV/bin/checkov" ]; then
    python3 -m venv "$CHECKOV_VENV"
    "$CHECKOV_VENV/bin/pip" install --quiet --upgrade pip
    "$CHECKOV_VENV/bin/pip" install --quiet "$CHECKOV_PACKAGE"
  fi
  if [ ! -x "$ROOT/node_modules/.bin/asl-validator" ]; then
    (cd "$ROOT" && npm install --no-audit --no-fund --silent)
  fi
}

print_env() {
  echo "export PATH=\"$VENV/bin:$ROOT/node_modules/.bin:\$PATH\""
}

lint() {
  "$VENV/bin/cfn-lint" "$ROOT/template.yaml"
  # Every finding is fixed or suppressed in template.yaml with its reason beside it
  # (Metadata: checkov: skip: comment); any other failure fails the lint. --skip-download: no
  # call to the vendor's guideline service (CI may be offline).
  "$CHECKOV_VENV/bin/checkov" --file "$ROOT/template.yaml" --framework cloudformation \
    --compact --quiet --skip-download
  local asl
  for asl in "$ROOT"/statemachine/*.json; do
    "$ROOT/node_modules/.bin/asl-validator" --json-path "$asl"
  done
}

case "${1:-install}" in
  install) install ;;
  env) print_env ;;
  lint) install && lint ;;
  *) echo "usage: $0 install|env|lint (got: $1)" >&2; exit 2 ;;
esac
