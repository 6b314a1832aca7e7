#!/usr/bin/env bash
# The real-browser test of the web pages (cmd/usher/web_browser_test.go, build
# tag "browser"): installs Debian's chromium when it is missing (as root, with
# apt-get; nothing is downloaded by npm or by the test), then drives it with
# chromedp through invitation -> accept -> sign in -> account -> admin reset
# -> forced password change -> sign in again -> forgot password (the link read
# from a real SMTP server on loopback) -> new password -> the other session
# ended -> sign in, against the real `usher serve` and a real redis-server.
# It fails, never skips, when chromium is missing.
#
# Screenshots of every page go to $USHER_ARTIFACTS (default
# ${TMPDIR:-/tmp}/usher-browser-test), under _artifacts/<run>/; the test log
# names each file.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

chromium_bin() {
	if [[ -n "${USHER_CHROMIUM:-}" ]]; then
		printf '%s\n' "$USHER_CHROMIUM"
	elif command -v chromium 2>/dev/null; then
		:
	elif [[ -x /usr/bin/chromium ]]; then
		printf '%s\n' /usr/bin/chromium
	else
		return 1
	fi
}

if ! chromium_bin >/dev/null; then
	if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
		die "chromium not found. The browser test needs it: sudo apt-get install chromium (Debian/Ubuntu), or set USHER_CHROMIUM to a Chromium binary."
	fi
	log "chromium not found: installing Debian's chromium"
	aptlog="$(mktemp)"
	if ! {
		apt-get -o DPkg::Lock::Timeout=300 update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
				install -y -qq --no-install-recommends chromium
	} >"$aptlog" 2>&1; then
		cat "$aptlog" >&2
		rm -f "$aptlog"
		die "apt-get install chromium failed"
	fi
	rm -f "$aptlog"
	chromium_bin >/dev/null || die "chromium still not found after installing it"
fi
chromium="$(chromium_bin)"
# Debian's wrapper script prints a harmless shell warning on stderr.
log "browser test with $("$chromium" --version 2>/dev/null || echo "$chromium")"

out="${USHER_ARTIFACTS:-${TMPDIR:-/tmp}/usher-browser-test}"
rm -rf "$out/_artifacts"
mkdir -p "$out"
"$GO" vet -tags browser ./cmd/usher/
USHER_CHROMIUM="$chromium" "$GO" test -tags browser -race -count=1 -timeout 5m \
	-run '^TestBrowser$' -artifacts -outputdir "$out" -v ./cmd/usher/
log "browser test screenshots: $(find "$out/_artifacts" -name '*.png' | wc -l) in $out/_artifacts"
