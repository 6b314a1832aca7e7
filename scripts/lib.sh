# shellcheck shell=bash
# Shared helpers for scripts/test.sh and scripts/bench.sh. Source it; don't run it.

GO="${GO:-go}"

log() { printf '==> %s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# redis_server_bin prints the redis-server the tests will use, the same way
# storage/redistest resolves it: $USHER_REDIS_SERVER, then PATH, then
# /usr/bin/redis-server. Prints nothing and fails when there is none.
redis_server_bin() {
	if [[ -n "${USHER_REDIS_SERVER:-}" ]]; then
		[[ -f "$USHER_REDIS_SERVER" && -x "$USHER_REDIS_SERVER" ]] || return 1
		printf '%s\n' "$USHER_REDIS_SERVER"
		return 0
	fi
	if command -v redis-server 2>/dev/null; then
		return 0
	fi
	if [[ -x /usr/bin/redis-server ]]; then
		printf '%s\n' /usr/bin/redis-server
		return 0
	fi
	return 1
}

# ensure_redis_server makes sure a redis-server binary is available, installing
# Debian's package when running as root with apt-get. The package's system
# service is kept from starting (the tests start their own servers).
ensure_redis_server() {
	if [[ -n "${USHER_REDIS_SERVER:-}" ]]; then
		redis_server_bin >/dev/null ||
			die "USHER_REDIS_SERVER=$USHER_REDIS_SERVER is not an executable file"
		return 0
	fi
	if redis_server_bin >/dev/null; then
		return 0
	fi
	if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
		cat >&2 <<-'MSG'
		ERROR: redis-server not found. The tests run a real Redis server.
		Install it, e.g.:
		    sudo apt-get install redis-server      # Debian/Ubuntu
		    brew install redis                     # macOS
		or point USHER_REDIS_SERVER at a redis-server binary.
		MSG
		exit 1
	fi

	log "redis-server not found: installing Debian's redis-server"
	# policy-rc.d exiting 101 tells invoke-rc.d / deb-systemd-invoke not to
	# start services, so the package's redis service can't fail the install.
	local policy=/usr/sbin/policy-rc.d created_policy=
	if [[ ! -e "$policy" ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
	fi
	local rc=0 aptlog
	aptlog="$(mktemp)"
	{
		apt-get -o DPkg::Lock::Timeout=300 update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
				install -y -qq --no-install-recommends redis-server
	} >"$aptlog" 2>&1 || rc=$?
	if [[ -n "$created_policy" ]]; then
		rm -f "$policy"
	fi
	if [[ $rc -ne 0 ]]; then
		cat "$aptlog" >&2
		rm -f "$aptlog"
		die "apt-get install redis-server failed (exit $rc)"
	fi
	grep -E '^(Setting up|invoke-rc.d)' "$aptlog" || true
	rm -f "$aptlog"
	redis_server_bin >/dev/null || die "redis-server still not found after installing it"
}

# list_go_files prints the repo's Go files (run from the repo root), skipping
# what the go tool skips: vendor/, testdata/, dirs starting with . or _, and
# node_modules/.
list_go_files() {
	find . \( -name vendor -o -name testdata -o -name node_modules -o -name '.?*' -o -name '_*' \) -prune \
		-o -type f -name '*.go' -print | sed 's|^\./||' | LC_ALL=C sort
}

# list_fuzz_targets prints "pkgdir FuzzName" for every fuzz target in the repo.
list_fuzz_targets() {
	local f name
	list_go_files | { grep '_test\.go$' || true; } | while IFS= read -r f; do
		{ grep -oE '^func Fuzz[A-Za-z0-9_]*\(' "$f" || true; } | sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\($/\1/' |
			while IFS= read -r name; do
				printf '%s %s\n' "$(dirname "$f")" "$name"
			done
	done | LC_ALL=C sort -u
}

# gofmt_bin prints the gofmt of the Go toolchain in use.
gofmt_bin() {
	local g
	g="$("$GO" env GOROOT)/bin/gofmt"
	if [[ -x "$g" ]]; then printf '%s\n' "$g"; else command -v gofmt; fi
}
