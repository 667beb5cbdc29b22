#!/usr/bin/env bash
# `make perf`: CPU per request of each function, measured from outside its process.
# Starts the local stack of `make dev` with release builds of the functions (its own moto, table
# and free ports), then runs the driver (xtask/src/perf.rs): a bounded load per operation,
# prepared and signed before the clock starts, one request at a time. Prints a table: CPU ms per
# request of the function's process (/proc), peak RSS, DynamoDB requests, p50/p99. Method and
# figures: docs/performance.md. PERF_SCALE=0.2 for a quick run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p target

echo "==> release builds of the functions, the driver"
# One at a time, as `cargo lambda watch` runs each (`cargo run --release --bin NAME`: its own
# feature set), so the first request does not wait for a compile.
for bin in auth users numbers conversations messages twilio-inbound twilio-status realtime delivery sweeper; do
  cargo build --release --quiet --bin "$bin"
done
cargo build --quiet -p xtask --bin perf

MOTO_LOG=target/moto-perf.log start_moto 0
use_local_aws "$MOTO_PORT"
api_port=$(free_port)
standin_port=$(free_port)
websocket_port=$(free_port)
log=target/perf-stack.log
env -u TWILIO_ACCOUNT_SID -u TWILIO_API_BASE_URL -u TWILIO_MESSAGING_SERVICE_SID -u TWILIO_AUTH_TOKEN \
  -u PUBLIC_BASE_URL -u STATUS_CALLBACK_URL -u WEBHOOK_PUBLIC_URL -u WEBSOCKET_API_ENDPOINT -u RUST_LOG \
  DEV_RELEASE=1 DEV_IGNORE_DOTENV=1 STANDIN_STATUS_CALLBACKS=off API_PORT="$api_port" STANDIN_PORT="$standin_port" \
  WEBSOCKET_PORT="$websocket_port" TABLE_NAME="switchboard-perf" \
  scripts/dev.sh >"$log" 2>&1 &
dev_pid=$!
trap 'kill -TERM "$dev_pid" 2>/dev/null || true; wait "$dev_pid" 2>/dev/null || true; kill "$MOTO_PID" 2>/dev/null || true' EXIT
for port in "$standin_port" "$websocket_port" "$api_port"; do
  wait_for_port "$port" "$log"
done
echo "==> load (stack log: $log)"
PERF_API_URL="http://127.0.0.1:$api_port" PERF_STANDIN_URL="http://127.0.0.1:$standin_port" \
  PERF_STACK_LOG="$log" TWILIO_AUTH_TOKEN=local-development-twilio-auth-token \
  PUBLIC_BASE_URL="http://127.0.0.1:$api_port" target/debug/perf
