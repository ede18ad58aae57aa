# Kontakt — the two commands: `make run` (demo server) and `make test` (everything).
CARGO ?= cargo
NPM ?= npm
UI := ui-client
# Days of past activity the demo city starts with (calls, resolutions, escalations).
DEMO_DAYS ?= 14

.PHONY: run test lint unit ui ui-deps ui-test e2e bench crash-long fuzz-long soak-long check-store

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

## The benchmark suite (release build): every figure next to its same-run baseline and goal; see BENCHMARKS.md.
bench:
	$(CARGO) bench -p kontakt-tests

## The long forms of the proof; `make test` runs each in its short form.
crash-long:
	KONTAKT_CRASH_CYCLES=100 $(CARGO) test --release -p kontakt-tests --test crash -- --nocapture

fuzz-long:
	KONTAKT_FUZZ_CASES=100000 $(CARGO) test --release -p kontakt-tests --test fuzz -- --nocapture

soak-long:
	KONTAKT_SOAK_SECS=1800 KONTAKT_SOAK_SUBSCRIBERS=1000 KONTAKT_SOAK_RATE=100 \
		$(CARGO) test --release -p kontakt-tests --test soak -- --nocapture
