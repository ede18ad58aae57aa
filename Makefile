# Kontakt — the two commands: `make run` (demo server) and `make test` (everything).
CARGO ?= cargo

.PHONY: run test lint unit bench check-store

## Build and start the server with its embedded store and the demo city.
run:
	$(CARGO) run --release -p kontakt-api --bin kontakt -- serve --demo

## Every check and every test: formatting, lints, unit, property and end-to-end tests.
test: lint unit

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --workspace

## The benchmark suite (release build); figures go into BENCHMARKS.md.
bench:
	$(CARGO) bench -p kontakt-tests
