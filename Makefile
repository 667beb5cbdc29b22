# The two commands a newcomer needs:
#   make dev    start the whole local stack (DynamoDB-compatible server, table, functions)
#   make test   install what is needed (pinned) and run every check and test
.PHONY: dev test bench phone fmt lint

dev:
	@scripts/dev.sh

test:
	@scripts/test.sh

bench:
	@scripts/bench.sh

# What each simulated phone of the local Twilio stand-in has received (make dev running).
phone:
	@scripts/phone inbox

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets -- -D warnings
