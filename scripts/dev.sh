#!/usr/bin/env bash
# `make dev`: the whole local stack on one machine.
#   1. moto's DynamoDB-compatible server (pinned, in .venv), data kept while it runs;
#   2. the table, created from template.yaml's definition;
#   3. when no Twilio account is configured, the local Twilio stand-in (xtask/src/standin.rs):
#      it takes the functions' sends, plays the phones, and calls back with delivery statuses;
#   4. the WebSocket API stand-in (xtask/src/websocket.rs): sockets for real-time events, the
#      `realtime` function's routes, and the @connections API the functions publish through;
#   5. every function under `cargo lambda watch` on one port, with the production paths;
#   6. the delivery pipeline: its queues on moto's SQS (`xtask create-queues`, from template.yaml),
#      and the queue poller (xtask/src/poller.rs), which plays Lambda's event source mapping (each
#      batch of jobs to the `delivery` function) and the sweeper's schedule (`sweeper`);
#   7. the media bucket on moto's S3 (`xtask create-bucket`: message media, with CORS for the web
#      client's uploads);
#   8. the web client (web/), built and served by `vite preview` on WEB_PORT, with /api proxied to
#      the functions and, with the stand-in, /standin for its phones panel (scripts/web.sh).
# Settings come from the environment or a git-ignored .env; Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# scripts/test.sh runs this stack with its own settings only (DEV_IGNORE_DOTENV=1).
if [ -f .env ] && [ -z "${DEV_IGNORE_DOTENV:-}" ]; then
  set -a
  # shellcheck disable=SC1091
  source .env
  set +a
fi

export TABLE_NAME="${TABLE_NAME:-switchboard}"
# A development-only secret; deployed stacks take JWT_SECRET from a NoEcho parameter.
export JWT_SECRET="${JWT_SECRET:-local-development-only-jwt-secret-0123456789}"
export ADMIN_EMAILS="${ADMIN_EMAILS:-admin@example.com}"
export DEFAULT_REGION="${DEFAULT_REGION:-US}"
export RUST_LOG="${RUST_LOG:-info}"
DYNAMODB_PORT="${DYNAMODB_PORT:-8000}"
API_PORT="${API_PORT:-9000}"
STANDIN_PORT="${STANDIN_PORT:-9100}"
WEBSOCKET_PORT="${WEBSOCKET_PORT:-9001}"
WEB_PORT="${WEB_PORT:-5173}"
# The functions publish real-time events through the local WebSocket stand-in.
export WEBSOCKET_API_ENDPOINT="${WEBSOCKET_API_ENDPOINT:-http://127.0.0.1:${WEBSOCKET_PORT}}"
# Webhooks are always signature-checked; locally against this documented token and base URL
# (events/twilio-*.json are signed with them).
export TWILIO_AUTH_TOKEN="${TWILIO_AUTH_TOKEN:-local-development-twilio-auth-token}"
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://127.0.0.1:${API_PORT}}"
# The delivery pipeline retries sooner than in production, so a retry can be watched
# (`make phone`; the stand-in's failing phones are in the README).
export DELIVERY_RETRY_BASE_SECONDS="${DELIVERY_RETRY_BASE_SECONDS:-2}"
export DELIVERY_RETRY_MAX_SECONDS="${DELIVERY_RETRY_MAX_SECONDS:-20}"
export DELIVERY_SWEEP_GRACE_SECONDS="${DELIVERY_SWEEP_GRACE_SECONDS:-15}"
# The sweeper runs every minute in AWS; locally every 10 s.
export SWEEP_INTERVAL_SECONDS="${SWEEP_INTERVAL_SECONDS:-10}"
# The poller long-polls the delivery queue (ReceiveMessage waits up to 1 s for a job), as
# Lambda's event source mapping does: moto_server.py serialises DynamoDB requests only, so the
# wait holds no table request. With a wait of 0 it pauses 250 ms after an empty answer instead.
export QUEUE_POLL_WAIT_SECONDS="${QUEUE_POLL_WAIT_SECONDS:-1}"
export QUEUE_POLL_IDLE_MS="${QUEUE_POLL_IDLE_MS:-250}"
# No Twilio account configured: the functions send through the local stand-in, as this
# (made-up, well-formed) account.
if [ -z "${TWILIO_ACCOUNT_SID:-}" ]; then
  USE_STANDIN=1
  export TWILIO_ACCOUNT_SID=AC00000000000000000000000000000000
  export TWILIO_API_BASE_URL="http://127.0.0.1:${STANDIN_PORT}"
  export STANDIN_PORT
fi
export TWILIO_MESSAGING_SERVICE_SID TWILIO_API_BASE_URL

scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p target

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "==> stopping the local stack"
  for pid in "${pids[@]}"; do
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

sqs_given="${AWS_ENDPOINT_URL_SQS:-}"
dynamodb_given="${AWS_ENDPOINT_URL_DYNAMODB:-}"
if [ -n "${AWS_ENDPOINT_URL_DYNAMODB:-}" ]; then
  echo "==> using the DynamoDB endpoint from the environment: $AWS_ENDPOINT_URL_DYNAMODB"
  export AWS_REGION="${AWS_REGION:-us-east-1}"
else
  MOTO_LOG=target/moto-dev.log start_moto "$DYNAMODB_PORT"
  pids+=("$MOTO_PID")
  use_local_aws "$MOTO_PORT"
fi
# moto serves SQS on the same port as DynamoDB (scripts/test.sh's moto too).
export AWS_ENDPOINT_URL_SQS="${AWS_ENDPOINT_URL_SQS:-$AWS_ENDPOINT_URL_DYNAMODB}"

cargo run --quiet -p xtask -- create-table "$TABLE_NAME"

# The delivery queue and its dead-letter queue (named after the table, so stacks sharing one moto
# do not share queues); their URLs go to the functions and the poller.
cargo build --quiet -p xtask --bin xtask --bin twilio-standin --bin phone --bin websocket-gateway --bin queue-poller
bin="${CARGO_TARGET_DIR:-target}/debug"
if ! queue_env=$("$bin"/xtask create-queues "$TABLE_NAME"); then
  if [ -n "$sqs_given" ] || [ -z "$dynamodb_given" ]; then
    echo "could not create the delivery queues on $AWS_ENDPOINT_URL_SQS" >&2
    exit 1
  fi
  # The DynamoDB endpoint from the environment is not moto: a moto of our own for SQS.
  echo "==> $AWS_ENDPOINT_URL_SQS serves no SQS: starting moto for the queues"
  MOTO_LOG=target/moto-sqs-dev.log start_moto 0
  pids+=("$MOTO_PID")
  export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$MOTO_PORT"
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
  queue_env=$("$bin"/xtask create-queues "$TABLE_NAME")
fi
while IFS='=' read -r name value; do
  case "$name" in
    DELIVERY_QUEUE_URL | DELIVERY_DEAD_LETTER_QUEUE_URL) export "$name=$value" ;;
  esac
done <<<"$queue_env"
# The media bucket, on the same moto as the queues.
export AWS_ENDPOINT_URL_S3="${AWS_ENDPOINT_URL_S3:-$AWS_ENDPOINT_URL_SQS}"
bucket_env=$("$bin"/xtask create-bucket "$TABLE_NAME")
export "${bucket_env?}"
WEBSOCKET_PORT="$WEBSOCKET_PORT" API_PORT="$API_PORT" "$bin"/websocket-gateway &
pids+=("$!")
twilio_line="Twilio                     the account in TWILIO_ACCOUNT_SID"
if [ -n "${USE_STANDIN:-}" ]; then
  "$bin"/twilio-standin &
  pids+=("$!")
  twilio_line="Twilio stand-in            http://127.0.0.1:${STANDIN_PORT}   phones: scripts/phone inbox | text FROM TO BODY"
fi

# The web client: built here (scripts/test.sh builds it before, WEB_PREBUILT=1), then served.
web_line="Web client                 http://127.0.0.1:${WEB_PORT}/"
if [ -z "${WEB_PREBUILT:-}" ] && ! scripts/web.sh build; then
  web_line="Web client                 not served: its build failed (above)"
else
  SWITCHBOARD_API_URL="http://127.0.0.1:${API_PORT}" SWITCHBOARD_WEBSOCKET_URL="ws://127.0.0.1:${WEBSOCKET_PORT}/" \
    SWITCHBOARD_STANDIN_URL="${USE_STANDIN:+http://127.0.0.1:${STANDIN_PORT}}" WEB_PORT="$WEB_PORT" scripts/web.sh serve &
  pids+=("$!")
  if [ -n "${USE_STANDIN:-}" ]; then web_line="$web_line   (Phones panel: the stand-in's phones)"; fi
fi

cat <<BANNER

  Switchboard local stack
  ------------------------------------------------------------------
  ${web_line}
  API (cargo lambda watch)   http://127.0.0.1:${API_PORT}/api/...
  DynamoDB (moto)            ${AWS_ENDPOINT_URL_DYNAMODB}   table: ${TABLE_NAME}
  ${twilio_line}
  WebSocket (real-time)      ws://127.0.0.1:${WEBSOCKET_PORT}/?token=ACCESS_TOKEN
  Delivery queue (SQS, moto) ${DELIVERY_QUEUE_URL}
  Dead letters               ${DELIVERY_DEAD_LETTER_QUEUE_URL}
  Queue poller               each batch to \`delivery\`, \`sweeper\` every ${SWEEP_INTERVAL_SECONDS} s; retries after ${DELIVERY_RETRY_BASE_SECONDS}-${DELIVERY_RETRY_MAX_SECONDS} s
  Admin emails               ${ADMIN_EMAILS}
  Functions compile on start; the first request may wait for them.
  Ctrl-C stops everything.

BANNER

# DEV_RELEASE=1 (scripts/perf.sh): release builds, not rebuilt on changes.
watch_flags=()
if [ -n "${DEV_RELEASE:-}" ]; then watch_flags=(--release --ignore-changes); fi
cargo lambda watch "${watch_flags[@]}" --invoke-address 127.0.0.1 --invoke-port "$API_PORT" &
pids+=("$!")
# The poller once `cargo lambda watch` listens (it also waits by itself whenever the invoke API
# does not answer).
(
  wait_for_port "$API_PORT" || true
  exec env API_PORT="$API_PORT" "$bin"/queue-poller
) &
pids+=("$!")
wait -n "${pids[@]}"
