#!/usr/bin/env bash
# Teams checks that need Node (docs/teams.md):
#  1. manifests/teams/manifest.json validates against Microsoft's published
#     JSON schema for its manifestVersion (npm @microsoft/app-manifest ships
#     the schemas; ajv compiles their lookahead patterns, RE2 cannot);
#  2. the end-to-end run with the Microsoft 365 Agents Playground (npm
#     @microsoft/m365agentsplayground): a real `usher serve` and redis-server,
#     invite in a group chat -> card in the personal chat -> Accept
#     (cmd/usher/teams_playground_test.go, build tag "playground").
# npm packages go to ${XDG_CACHE_HOME:-$HOME/.cache}/usher-npm, pinned, with
# install scripts disabled (nothing is downloaded besides the packages).
# Idempotent; fails, never skips, when Node cannot be had.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

PLAYGROUND_VERSION=0.2.28
APP_MANIFEST_VERSION=1.1.2
AJV_VERSION=8.20.0
AJV_DRAFT04_VERSION=1.0.0
AJV_FORMATS_VERSION=3.0.1
prefix="${USHER_NPM_PREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/usher-npm}"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
		die "node and npm not found. The Teams checks need them: sudo apt-get install nodejs npm"
	fi
	log "node/npm not found: installing Debian's nodejs and npm"
	aptlog="$(mktemp)"
	if ! {
		apt-get -o DPkg::Lock::Timeout=300 update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
				install -y -qq --no-install-recommends nodejs npm
	} >"$aptlog" 2>&1; then
		cat "$aptlog" >&2
		rm -f "$aptlog"
		die "apt-get install nodejs npm failed"
	fi
	rm -f "$aptlog"
fi
log "node $(node --version), npm $(npm --version 2>/dev/null)"

installed_version() { # package -> version installed under $prefix, or nothing
	node -e 'try { console.log(require(process.argv[1] + "/package.json").version) } catch (e) {}' \
		"$prefix/node_modules/$1" 2>/dev/null || true
}

want=(
	"@microsoft/m365agentsplayground@$PLAYGROUND_VERSION"
	"@microsoft/app-manifest@$APP_MANIFEST_VERSION"
	"ajv@$AJV_VERSION"
	"ajv-draft-04@$AJV_DRAFT04_VERSION"
	"ajv-formats@$AJV_FORMATS_VERSION"
)
missing=0
for spec in "${want[@]}"; do
	pkg="${spec%@*}" ver="${spec##*@}"
	[[ "$(installed_version "$pkg")" == "$ver" ]] || missing=1
done
if [[ "$missing" == 1 ]]; then
	log "npm install into $prefix: ${want[*]}"
	mkdir -p "$prefix"
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1 npm_config_update_notifier=false \
		npm install --prefix "$prefix" --ignore-scripts --no-audit --no-fund --loglevel=error "${want[@]}"
fi

log "Teams manifest: JSON schema validation"
NODE_PATH="$prefix/node_modules" node manifests/teams/validate.cjs

log "Teams end-to-end with the Microsoft 365 Agents Playground $PLAYGROUND_VERSION"
"$GO" vet -tags playground ./cmd/usher/
USHER_PLAYGROUND="$prefix/node_modules/@microsoft/m365agentsplayground/cli.js" \
	"$GO" test -tags playground -race -count=1 -timeout 5m -run '^TestPlaygroundInviteAccept$' -v ./cmd/usher/
