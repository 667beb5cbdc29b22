#!/usr/bin/env bash
# `make test`: installs what it needs (pinned), checks formatting, lints and the template,
# starts its own DynamoDB-compatible server on a free port, and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

started=$(date +%s)
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "==> cfn-lint and sam validate --lint"
cfn-lint template.yaml
sam validate --lint --template-file template.yaml --region us-east-1 >/dev/null

# The web client (web/): pinned npm packages, API types generated from docs/openapi.json,
# `tsc --noEmit`, the build and its size budget.
echo "==> web client: npm ci, types, tsc --noEmit, build, size budget"
scripts/web.sh build
scripts/web.sh check

# Its browser tests drive Debian's Chromium (Playwright cannot download its own builds here).
if ! command -v "${CHROMIUM_PATH:-/usr/bin/chromium}" >/dev/null; then
  echo "==> installing Debian's chromium (browser tests)"
  sudo_cmd=()
  if [ "$(id -u)" != 0 ]; then sudo_cmd=(sudo -n); fi
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

mkdir -p target
MOTO_LOG=target/moto-test.log start_moto 0
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
use_local_aws "$MOTO_PORT"
echo "==> moto on 127.0.0.1:$MOTO_PORT; cargo test"

# --lib --bins --tests: unit and integration tests (benches run only under `make bench`).
set +e
cargo test --workspace --lib --bins --tests --no-fail-fast "$@" 2>&1 | tee target/test-output.log
status=${PIPESTATUS[0]}
set -e

# The README walkthrough, over HTTP, then real-time events over WebSockets, against the local
# stack of `make dev` (cargo lambda watch, the Twilio and WebSocket API stand-ins) on free ports,
# with a table of its own on the same moto; then the web client's browser tests against the same
# stack (its admin registers as web-admin@example.com).
echo "==> the README walkthrough against the local stack (scripts/dev.sh)"
# Build what the stack runs first, so the functions' first requests do not wait for a compile.
cargo build --quiet --bins -p switchboard-auth -p switchboard-users -p switchboard-numbers \
  -p switchboard-conversations -p switchboard-messages -p switchboard-twilio-inbound -p switchboard-twilio-status \
  -p switchboard-realtime -p switchboard-delivery -p switchboard-sweeper
walkthrough=$(cargo test --quiet -p switchboard-tests --features local-stack --test local_stack --no-run \
  --message-format=json | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["executable"])')
api_port=$(free_port)
standin_port=$(free_port)
websocket_port=$(free_port)
web_port=$(free_port)
env -u TWILIO_ACCOUNT_SID -u TWILIO_API_BASE_URL -u TWILIO_MESSAGING_SERVICE_SID -u TWILIO_AUTH_TOKEN \
  -u PUBLIC_BASE_URL -u STATUS_CALLBACK_URL -u WEBHOOK_PUBLIC_URL -u WEBSOCKET_API_ENDPOINT \
  DEV_IGNORE_DOTENV=1 API_PORT="$api_port" STANDIN_PORT="$standin_port" WEBSOCKET_PORT="$websocket_port" \
  WEB_PORT="$web_port" WEB_PREBUILT=1 ADMIN_EMAILS="admin@example.com,web-admin@example.com" \
  TABLE_NAME="switchboard-walkthrough" \
  scripts/dev.sh >target/dev-e2e.log 2>&1 &
dev_pid=$!
trap 'kill -TERM "$dev_pid" 2>/dev/null || true; kill "$MOTO_PID" 2>/dev/null || true' EXIT
set +e
wait_for_port "$standin_port" target/dev-e2e.log && wait_for_port "$websocket_port" target/dev-e2e.log &&
  wait_for_port "$api_port" target/dev-e2e.log &&
  SWITCHBOARD_API_URL="http://127.0.0.1:$api_port" SWITCHBOARD_STANDIN_URL="http://127.0.0.1:$standin_port" \
    SWITCHBOARD_WEBSOCKET_URL="ws://127.0.0.1:$websocket_port" "$walkthrough" --nocapture 2>&1 |
    tee -a target/test-output.log
walkthrough_status=${PIPESTATUS[0]}
echo "==> the web client's browser tests (Playwright, headless Chromium) against the same stack"
browser_started=$(date +%s)
: >target/web-e2e.log # no counts from an earlier run when the stack never came up
wait_for_port "$web_port" target/dev-e2e.log &&
  SWITCHBOARD_WEB_URL="http://127.0.0.1:$web_port" scripts/web.sh e2e 2>&1 | tee target/web-e2e.log
browser_status=${PIPESTATUS[0]}
echo "browser tests took $(( $(date +%s) - browser_started )) s; artifacts: target/web-artifacts/"
# The API against its own description, on the same stack: the description validates as OpenAPI 3.1
# and schemathesis' generated requests, valid and invalid, all get the answers it promises.
fuzz_status=0
if [ "$walkthrough_status" = 0 ]; then
  echo "==> the API against its description (scripts/fuzz.sh)"
  scripts/fuzz.sh "http://127.0.0.1:$api_port" 2>&1 | tee target/fuzz-output.log
  fuzz_status=${PIPESTATUS[0]}
fi
set -e
kill -TERM "$dev_pid" 2>/dev/null || true
wait "$dev_pid" 2>/dev/null || true
if [ "$walkthrough_status" != 0 ]; then
  echo "the walkthrough failed; the local stack's log: target/dev-e2e.log" >&2
  tail -n 40 target/dev-e2e.log >&2
  status=1
fi
if [ "$browser_status" != 0 ]; then
  echo "the browser tests failed (target/web-e2e.log, target/web-artifacts/results/); the stack's log: target/dev-e2e.log" >&2
  status=1
fi
if [ "$fuzz_status" != 0 ]; then
  echo "the API does not keep to its description (scripts/fuzz.sh, output: target/fuzz-output.log)" >&2
  status=1
fi

# `sam build` offline, x86_64 (the aarch64 standard library cannot be installed here; a
# deployer builds the default arm64).
echo "==> sam build (Architecture=x86_64)"
sam_started=$(date +%s)
if ! sam build --beta-features --parameter-overrides Architecture=x86_64 --build-dir target/sam-build \
  >target/sam-build.log 2>&1; then
  tail -n 40 target/sam-build.log >&2
  echo "sam build failed (log: target/sam-build.log)" >&2
  status=1
else
  echo "sam build succeeded in $(( $(date +%s) - sam_started )) s; bootstrap zip sizes:"
  for dir in target/sam-build/*Function; do
    size=$(cd "$dir" && python3 -c 'import io,sys,zipfile; b=io.BytesIO(); z=zipfile.ZipFile(b,"w",zipfile.ZIP_DEFLATED); z.write("bootstrap"); z.close(); print(b.tell())')
    echo "  $(basename "$dir"): $(( size / 1024 )) KiB"
  done
fi

passed=$(grep -Eo '^test result: .* ([0-9]+) passed' target/test-output.log | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '; [0-9]+ failed' target/test-output.log | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
# Playwright's summary lines ("  1 passed (14.2s)", "  1 failed"); either may be absent, which
# is no error (`|| true`: under `set -e -o pipefail` a grep finding nothing would end the script).
browser_passed=$(grep -Eo '^ +[0-9]+ passed' target/web-e2e.log 2>/dev/null | grep -Eo '[0-9]+' | head -1 || true)
browser_failed=$(grep -Eo '^ +[0-9]+ failed' target/web-e2e.log 2>/dev/null | grep -Eo '[0-9]+' | head -1 || true)
if [ "$browser_status" != 0 ] && [ -z "$browser_failed" ]; then browser_failed=1; fi
passed=$(( passed + ${browser_passed:-0} ))
failed=$(( failed + ${browser_failed:-0} ))
echo "==> make test finished in $(( $(date +%s) - started )) s"
echo "tests: ${passed} passed, ${failed} failed"
exit "${status:-1}"
