# Kontakt — the two commands: `make run` (demo server) and `make test` (everything).
CARGO ?= cargo
NPM ?= npm
UI := ui-client
# Days of past activity the demo city starts with (calls, resolutions, escalations).
DEMO_DAYS ?= 14

.PHONY: run test lint unit ui ui-deps ui-test e2e bench check-store

## Build the web pages and the server, then start it with its embedded store and the demo city.
run: ui
	$(CARGO) run --release -p kontakt-api --bin kontakt -- serve --demo --demo-days $(DEMO_DAYS)

## Every check and every test: formatting, lints, unit, property, end-to-end and browser tests.
test: lint unit ui-test

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --workspace

ui-deps: $(UI)/node_modules/.package-lock.json

$(UI)/node_modules/.package-lock.json: $(UI)/package-lock.json
	cd $(UI) && $(NPM) ci --no-audit --no-fund

## The web pages, built into ui-client/dist (served by `kontakt serve`).
ui: ui-deps
	cd $(UI) && $(NPM) run build

## Type check, Vitest unit tests, build, then the pages in Chromium against a real server.
ui-test: ui
	cd $(UI) && $(NPM) test
	$(CARGO) build -p kontakt-api --bin kontakt
	$(MAKE) e2e

e2e:
	cd $(UI) && $(NPM) run e2e

## The benchmark suite (release build); figures go into BENCHMARKS.md.
bench:
	$(CARGO) bench -p kontakt-tests
