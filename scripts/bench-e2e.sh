#!/usr/bin/env bash
# The end-to-end load benchmark (make bench): real `usher serve` processes in
# Slack HTTP mode take signed /usher invite slash commands on a real
# redis-server and on a 3-master Redis Cluster, with 1 and 3 replicas, and the
# figures (req/s, p50/p99, CPU per request, 3-vs-1 ratios) are printed as a
# table at the end. See docs/production.md.
#
#   scripts/bench-e2e.sh [go test args...]
#
# Env: E2E_REQUESTS (requests per row, default 6000), E2E_ROUNDS (interleaved rounds, default 3), COUNT (default 1), GO.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

ensure_redis_server
"$GO" version
"$(redis_server_bin)" --version
log "go test -run='^\$' -bench='^BenchmarkEndToEnd\$' -benchtime=1x -count=${COUNT:-1} ./cmd/usher $*"
"$GO" test -run='^$' -bench='^BenchmarkEndToEnd$' -benchtime=1x -count="${COUNT:-1}" \
	-timeout=30m ./cmd/usher "$@"
