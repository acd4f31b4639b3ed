#!/usr/bin/env bash
# Contract test of the HTTP API: runs schemathesis (every check) against `cdsearch serve` over
# the sample data, driven by the server's own /openapi.json; exits non-zero on any failure.
# Installs schemathesis into the project's venv (.venv, as scripts/aws-test-env.sh makes it),
# builds `cdsearch`, starts it on a free loopback port with a temporary data directory, and
# stops it at the end.
# Usage: scripts/api-contract.sh [EXTRA SCHEMATHESIS OPTIONS...]
#   CDS_CONTRACT_EXAMPLES   examples per operation and phase (default 60)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/.venv"
SCHEMATHESIS="schemathesis==4.*"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if [ ! -x "$VENV/bin/schemathesis" ]; then
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet "$SCHEMATHESIS"
fi

cd "$ROOT"
cargo build --quiet -p cdsearch-cli --bin cdsearch
DATA="$(mktemp -d)"
TOKEN="contract-$(date +%s)-key"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$DATA"
}
trap cleanup EXIT

: >"$DATA/server.log"
# Generous rate limits, so that requests reach validation instead of answering 429.
"$ROOT/target/debug/cdsearch" serve --addr 127.0.0.1:0 --data-dir "$DATA/data" \
  --api-key "contract:$TOKEN" --max-masks 3 \
  --submit-burst 100000 --submits-per-minute 100000 \
  --request-burst 1000000 --requests-per-minute 1000000 >"$DATA/server.log" 2>&1 &
SERVER_PID=$!
BASE=""
for _ in $(seq 1 100); do
  BASE="$(sed -n 's|^cdsearch serving on \(http://[^/ ]*\)/.*|\1|p' "$DATA/server.log" | head -n 1 || true)"
  [ -n "$BASE" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$DATA/server.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$BASE" ] || { echo "cdsearch serve did not start" >&2; cat "$DATA/server.log" >&2; exit 1; }

export CDS_CONTRACT_MASK="$ROOT/sample/masks/12191_JRC2018U.tif"
export SCHEMATHESIS_HOOKS=api_contract_hooks
export PYTHONPATH="$ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}"
status=0
"$VENV/bin/schemathesis" --config-file "$ROOT/scripts/api-contract.toml" run "$BASE/openapi.json" \
  --checks all \
  --header "Authorization: Bearer $TOKEN" \
  --max-examples "${CDS_CONTRACT_EXAMPLES:-60}" \
  --generation-database none \
  --seed 1 \
  "$@" || status=$?
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "cdsearch serve died during the run:" >&2
  cat "$DATA/server.log" >&2
  status=1
fi
exit "$status"
