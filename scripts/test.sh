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
passed=$(grep -Eo '^test result: .* ([0-9]+) passed' target/test-output.log | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '; [0-9]+ failed' target/test-output.log | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
echo "==> make test finished in $(( $(date +%s) - started )) s"
echo "tests: ${passed} passed, ${failed} failed"
exit "$status"
