# The two commands a newcomer needs:
#   make dev    start the whole local stack (DynamoDB-compatible server, table, functions)
#   make test   install what is needed (pinned) and run every check and test
.PHONY: dev test bench fmt lint

dev:
	@scripts/dev.sh

test:
	@scripts/test.sh

bench:
	@scripts/bench.sh

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets -- -D warnings
