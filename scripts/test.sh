#!/usr/bin/env bash
# The project's one test command (`make test`, and CI via .ci/run).
#
#   scripts/test.sh [go test args...]   e.g. scripts/test.sh -v -run=TestFoo
#
# Steps: ensure redis-server (installing it as root with apt-get), print
# versions, gofmt + go vet, go test -race ./..., every benchmark once, short fuzz runs of every
# Fuzz target, then the executable hooks scripts/test.d/*.sh in order.
#
# Env: FUZZTIME (default 10s; 0 skips fuzzing), FUZZ_ONLY=1 (only the fuzz
# step), FUZZ_DRY_RUN=1 (print fuzz commands, don't run them), GO, CI,
# USHER_REDIS_SERVER.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

FUZZTIME="${FUZZTIME:-10s}"
start=$SECONDS
trap 'rc=$?; if [[ $rc -ne 0 ]]; then printf "==> scripts/test.sh FAILED (exit %d) after %ds\n" "$rc" "$((SECONDS - start))" >&2; fi' EXIT

step_redis() {
	ensure_redis_server
}

step_versions() {
	log "versions"
	"$GO" version
	"$(redis_server_bin)" --version
}

step_lint() {
	log "gofmt"
	local gofmt unformatted
	gofmt="$(gofmt_bin)" || die "gofmt not found"
	unformatted="$(list_go_files | tr '\n' '\0' | xargs -0 -r "$gofmt" -l)"
	if [[ -n "$unformatted" ]]; then
		# shellcheck disable=SC2016
		printf 'ERROR: these files need gofmt (run `make fmt`):\n%s\n' "$unformatted" >&2
		exit 1
	fi
	log "go vet ./..."
	"$GO" vet ./...
}

step_test() {
	log "go test -race -count=1 -timeout 20m ./... $*"
	"$GO" test -race -count=1 -timeout 20m ./... "$@"
}

# step_bench_once runs every benchmark once (-benchtime 1x): not a figure,
# only proof that `make bench-go` / `make bench-slack` still build and run,
# since nothing else exercises them (a wiring change once broke
# BenchmarkSlackLoad unnoticed).
step_bench_once() {
	log "go test -run '^\$' -bench . -benchtime 1x ./... (benchmarks still run)"
	local out
	out="$(mktemp)"
	if ! "$GO" test -run '^$' -bench . -benchtime 1x -timeout 10m ./... >"$out" 2>&1; then
		cat "$out" >&2
		rm -f "$out"
		die "a benchmark no longer runs"
	fi
	rm -f "$out"
}

step_fuzz() {
	if [[ "$FUZZTIME" == "0" || "$FUZZTIME" == "0s" ]]; then
		log "fuzz: skipped (FUZZTIME=$FUZZTIME)"
		return 0
	fi
	local targets
	targets="$(list_fuzz_targets)"
	if [[ -z "$targets" ]]; then
		log "fuzz: no Fuzz targets in the repo yet"
		return 0
	fi
	log "fuzz: $(wc -l <<<"$targets") target(s), $FUZZTIME each"
	local dir name
	while read -r dir name; do
		local cmd=("$GO" test -run='^$' "-fuzz=^${name}\$" "-fuzztime=$FUZZTIME" "./$dir")
		if [[ -n "${FUZZ_DRY_RUN:-}" ]]; then
			printf 'would run: %s\n' "${cmd[*]}"
			continue
		fi
		log "fuzz ./$dir $name"
		fuzz_one "$dir" "$name" "${cmd[@]}"
	done <<<"$targets"
}

# fuzz_one runs one fuzz target. A failure that wrote a reproducer under
# testdata/fuzz/NAME fails at once. A failure that wrote none is Go's fuzz
# coordinator racing its own -fuzztime deadline ("context deadline
# exceeded", golang/go#75804, fixed in Go 1.27): it is retried once, and
# fails only if it happens again.
fuzz_one() {
	local dir="$1" name="$2"
	shift 2
	local corpus="$dir/testdata/fuzz/$name" before after attempt
	for attempt in 1 2; do
		before="$(ls "$corpus" 2>/dev/null | sort || true)"
		if "$@" </dev/null; then
			return 0
		fi
		after="$(ls "$corpus" 2>/dev/null | sort || true)"
		if [[ "$before" != "$after" ]]; then
			printf 'ERROR: %s wrote a failing input to %s\n' "$name" "$corpus" >&2
			return 1
		fi
		if [[ $attempt == 1 ]]; then
			log "fuzz ./$dir $name: failed without a failing input (Go's fuzztime race, golang/go#75804): once more"
		fi
	done
	printf 'ERROR: %s failed twice without writing a failing input\n' "$name" >&2
	return 1
}

step_hooks() {
	local hook
	for hook in scripts/test.d/*.sh; do
		[[ -e "$hook" ]] || continue
		if [[ ! -x "$hook" ]]; then
			log "hook $hook: not executable, skipped"
			continue
		fi
		log "hook $hook"
		"./$hook"
	done
}

step_redis
step_versions
if [[ -z "${FUZZ_ONLY:-}" ]]; then
	step_lint
	step_test "$@"
	step_bench_once
fi
step_fuzz
if [[ -z "${FUZZ_ONLY:-}" ]]; then
	step_hooks
fi
log "all checks passed in $((SECONDS - start))s"
