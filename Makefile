# The two commands a newcomer needs:
#   make dev    start the whole local stack (DynamoDB-compatible server, table, functions)
#   make test   install what is needed (pinned) and run every check and test
.PHONY: dev test test-fast bench perf phone fmt lint

dev:
	@scripts/dev.sh

test:
	@scripts/test.sh

# The fast tier: domain, use cases and handlers over in-memory fakes; no server, no install.
test-fast:
	cargo test --quiet -p switchboard-core -p switchboard -p switchboard-auth -p switchboard-users \
	  -p switchboard-numbers -p switchboard-conversations -p switchboard-messages \
	  -p switchboard-twilio-inbound -p switchboard-twilio-status -p switchboard-realtime \
	  -p switchboard-delivery -p switchboard-sweeper
	cargo test --quiet -p switchboard-tests --test fast_handlers --test fast_export --test fast_contacts --test layers --test routes

bench:
	@scripts/bench.sh

# CPU per request of each function's own process, release builds on the local stack
# (docs/performance.md).
perf:
	@scripts/perf.sh

# What each simulated phone of the local Twilio stand-in has received (make dev running).
phone:
	@scripts/phone inbox

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets -- -D warnings
