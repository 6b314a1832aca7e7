GO ?= go
export GO

# Extra arguments for go test, e.g. make test ARGS='-v -run=TestFoo'
ARGS ?=
FUZZTIME ?= 60s

.PHONY: test bench fuzz build shell fmt vet

# The project's one test command: redis-server, gofmt, vet, race tests, short fuzz.
test:
	bash scripts/test.sh $(ARGS)

bench:
	bash scripts/bench.sh $(ARGS)

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
