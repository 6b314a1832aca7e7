GO ?= go
export GO

# Extra arguments for go test, e.g. make test ARGS='-v -run=TestFoo'
ARGS ?=
FUZZTIME ?= 60s

.PHONY: test bench bench-go bench-slack bench-answer fuzz build shell fmt vet

# The project's one test command: redis-server, gofmt, vet, race tests, short fuzz.
test:
	bash scripts/test.sh $(ARGS)

# The end-to-end load benchmark: real `usher serve` processes, signed Slack
# slash commands, one redis-server and a 3-master Redis Cluster, 1 and 3
# replicas, figures and 3-vs-1 ratios printed at the end (docs/production.md).
# E2E_REQUESTS: requests per row. With BENCH=regexp, the Go benchmarks
# matching it instead (as bench-go).
bench:
ifeq ($(strip $(BENCH)),)
	bash scripts/bench-e2e.sh $(ARGS)
else
	bash scripts/bench.sh $(ARGS)
endif

# Every Go benchmark in the repo (BENCH=regexp to pick), output in bench.out.
bench-go:
	bash scripts/bench.sh $(ARGS)

# Slack load benchmark: signed /usher invite from 16 and 64 clients against
# usher's Slack handler on real Redis, next to a bare signature-checking
# handler in the same run (see docs/slack.md). BENCHTIME: requests per run.
BENCHTIME ?= 30000x
bench-slack:
	bash -c 'source scripts/lib.sh && ensure_redis_server'
	$(GO) test -run '^$$' -bench '^BenchmarkSlackLoad$$' -benchtime $(BENCHTIME) -timeout 20m ./cmd/usher $(ARGS)

# Issue 17's answer figures: the Slack load benchmark at 16 clients on this
# checkout and on AGAINST (default 8929d50, the code the issue was filed on)
# with this checkout's harness, alternately, ROUNDS times; ratios per round
# and their medians (docs/slack.md). BENCHTIME as above (5000x by default here).
bench-answer:
	ROUNDS=$(ROUNDS) BENCHTIME=$(if $(filter command line,$(origin BENCHTIME)),$(BENCHTIME),5000x) AGAINST=$(AGAINST) bash scripts/bench-answer.sh

# Longer fuzz runs of every Fuzz target (FUZZTIME each), without the rest of the suite.
fuzz:
	FUZZ_ONLY=1 FUZZTIME=$(FUZZTIME) bash scripts/test.sh

build:
	$(GO) build -o bin/usher ./cmd/usher

shell:
	$(GO) run ./cmd/usher shell

fmt:
	bash -c 'source scripts/lib.sh && list_go_files | tr "\n" "\0" | xargs -0 -r "$$(gofmt_bin)" -w'

vet:
	$(GO) vet ./...

# Teams app package (manifests/teams): manifest.json with the app id filled in
# and both icons, zipped to dist/usher-teams.zip. See docs/teams.md.
.PHONY: teams-package
teams-package:
	$(GO) run ./manifests/teams/pack -app-id "$(MICROSOFT_APP_ID)" -o dist/usher-teams.zip
