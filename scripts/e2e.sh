#!/usr/bin/env bash
# End-to-end browser tests of the web client (tests/e2e/search.mjs: search,
# filters, shape stage; tests/e2e/client.mjs: mask editor, hit viewer,
# downloads, links, re-run, delete; tests/e2e/signin.mjs: sign-in through a
# hosted UI with PKCE against the OpenID Connect stand-in oidc-standin.mjs,
# refresh, sign-out; axe-core accessibility checks in all three):
# installs Debian's chromium (and chromium-driver) if missing, playwright-core
# and axe-core under tests/e2e from its lock file, builds `cdsearch`, and runs
# the tests against servers they start on free loopback ports. Screenshots
# land in test-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "== installing chromium and chromium-driver (apt-get)"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium chromium-driver >/dev/null
fi

echo "== installing playwright-core and axe-core (npm ci, tests/e2e)"
(cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)

# The binary `cargo test --workspace` builds for cdsearch's CLI tests: the test
# profile with the features of the workspace's tests (dev-dependencies included),
# so after test.sh's `cargo test` this builds nothing and run alone it builds once.
echo "== building cdsearch"
cargo test --workspace --all-features --no-run --quiet
bin="$(cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')/debug/cdsearch"

echo "== e2e: web client in headless Chromium"
for test in search client signin; do
  CDSEARCH_BIN="$bin" REPO="$repo" ARTIFACTS="$repo/test-artifacts" \
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 node "tests/e2e/$test.mjs"
done
