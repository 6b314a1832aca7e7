#!/usr/bin/env bash
# Runs every benchmark in the repo against real redis-servers and writes the
# output to bench.out (compare runs with benchstat).
#
#   scripts/bench.sh [go test args...]
#
# Env: BENCH (regexp, default .), COUNT (default 1), BENCH_TIMEOUT (default 60m), GO.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

ensure_redis_server
"$GO" version
"$(redis_server_bin)" --version
log "go test -run='^\$' -bench=${BENCH:-.} -benchmem -count=${COUNT:-1} ./... $*  (output: bench.out)"
"$GO" test -run='^$' -bench="${BENCH:-.}" -benchmem -count="${COUNT:-1}" \
	-timeout="${BENCH_TIMEOUT:-60m}" ./... "$@" 2>&1 | tee bench.out
