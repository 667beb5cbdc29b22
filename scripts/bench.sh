#!/usr/bin/env bash
# `make bench`: runs the bench binaries against a fresh local DynamoDB server and prints figures.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
scripts/bootstrap.sh
mkdir -p target
MOTO_LOG=target/moto-bench.log start_moto 0
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
use_local_aws "$MOTO_PORT"
cargo bench -p switchboard-tests "$@"
