#!/usr/bin/env bash
# bench-answer.sh: issue 17's answer figures, this checkout against an older
# commit (AGAINST, default 8929d50: the code the issue was filed on), round
# by round. The machine's speed moves by a third from one half-hour to the
# next, so only figures of one round are compared: each round runs
# BenchmarkSlackLoad at 16 clients here, then on AGAINST with this
# checkout's load harness (cmd/usher/slack_bench_test.go) grafted on it.
#
# Prints, per round, each row's server CPU per request (the handler's
# process plus redis-server, from /proc) and p99, and this checkout's usher
# and floor rows as ratios of AGAINST's usher row; then the medians.
#
#   ROUNDS (5), BENCHTIME (5000x), AGAINST (8929d50)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_redis_server

rounds=${ROUNDS:-5}
benchtime=${BENCHTIME:-5000x}
against=${AGAINST:-8929d50}
root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
old="$tmp/against"
git -C "$root" worktree add --detach -q "$old" "$against"
trap 'git -C "$root" worktree remove --force "$old"; rm -rf "$tmp"' EXIT
# The harness on the old code: before the outbox queue moved to
# bot/outbox/redisqueue, cmd/usher wrapped it itself (outboxQueue).
sed -e 's/redisqueue\.New(ob)/outboxQueue{ob}/g' \
	-e '/"github.com\/usher-chat\/usher\/bot\/outbox\/redisqueue"/d' \
	"$root/cmd/usher/slack_bench_test.go" >"$old/cmd/usher/slack_bench_test.go"

run() { # dir: "row server-µs p99-ms" lines
	(cd "$1" && "$GO" test -run '^$' -bench '^BenchmarkSlackLoad$/(baseline|one-write|floor|usher)/clients=16$' \
		-benchtime "$benchtime" -timeout 20m ./cmd/usher) |
		awk '/^BenchmarkSlackLoad\// { row = $1; sub(/^BenchmarkSlackLoad\//, "", row); sub(/\/.*/, "", row)
			for (i = 2; i <= NF; i++) { if ($i == "server-cpu-µs/req") cpu = $(i-1); if ($i == "p99-ms") p99 = $(i-1) }
			print row, cpu, p99 }'
}

ratios="$tmp/ratios"
for r in $(seq "$rounds"); do
	here=$(run "$root")
	there=$(run "$old")
	printf '\nround %d\n%-12s %22s %22s\n' "$r" "server CPU, p99" "this checkout" "$against"
	join <(sort <<<"$here") <(sort <<<"$there") |
		awk '{ printf "%-12s %12.0f µs %6.2f ms %12.0f µs %6.2f ms\n", $1, $2, $3, $4, $5 }'
	awk -v here="$here" -v there="$there" 'BEGIN {
		n = split(here, h, "\n"); for (i = 1; i <= n; i++) { split(h[i], f, " "); cpu[f[1]] = f[2] }
		n = split(there, t, "\n"); for (i = 1; i <= n; i++) { split(t[i], f, " "); if (f[1] == "usher") base = f[2] }
		printf "usher / %s usher: %.2f   floor / %s usher: %.2f\n", "'"$against"'", cpu["usher"] / base, "'"$against"'", cpu["floor"] / base
		printf "%.3f %.3f\n", cpu["usher"] / base, cpu["floor"] / base > "/dev/stderr" }' 2>>"$ratios"
done
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '\n%d rounds: usher / %s usher, median %s; floor / %s usher, median %s\n' "$rounds" "$against" \
	"$(cut -d' ' -f1 "$ratios" | median)" "$against" "$(cut -d' ' -f2 "$ratios" | median)"
