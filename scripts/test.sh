#!/usr/bin/env bash
# Installs what the tests need (when missing) and runs every test.
# This is the README's second command; .ci/run calls it on a clean checkout.
#
#   ./scripts/test.sh            all tests under -race, then short fuzz runs
#   FUZZTIME=0 ./scripts/test.sh skip the fuzz runs (default 50000x per target)
set -euo pipefail
cd "$(dirname "$0")/.."

# Count-based (not time-based) fuzz runs: a -fuzztime duration can fail at
# its deadline with "context deadline exceeded" (golang/go#75804, Go 1.26).
FUZZTIME=${FUZZTIME:-50000x}

# --- test dependencies -------------------------------------------------------
# Debian packages the tests start or drive. Installed only when missing.
need_pkgs=()
command -v redis-server >/dev/null 2>&1 || need_pkgs+=(redis-server)
[ -d /usr/share/zookeeper ] || need_pkgs+=(zookeeper)
command -v java >/dev/null 2>&1 || need_pkgs+=(default-jre-headless)
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
command -v promtool >/dev/null 2>&1 || need_pkgs+=(prometheus)             # checks deploy/prometheus
command -v systemd-analyze >/dev/null 2>&1 || need_pkgs+=(systemd)         # verifies deploy/systemd
if [ ${#need_pkgs[@]} -gt 0 ]; then
	echo "== installing ${need_pkgs[*]}"
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# --- static checks -----------------------------------------------------------
echo "== go vet"
go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go') | grep -v '\.pb\.go$' || true)
if [ -n "$unformatted" ]; then
	echo "gofmt needed:"; echo "$unformatted"; exit 1
fi

# --- tests --------------------------------------------------------------------
echo "== go test -race"
go test -race -count=1 -timeout 20m ./...

# --- fuzzing (short; the seed corpora also run as part of go test) ------------
if [ "$FUZZTIME" != "0" ]; then
	for target in $(grep -rhoE '^func (Fuzz[A-Za-z0-9_]+)' --include='*_test.go' . | sed 's/func //' | sort -u); do
		pkg=$(grep -rlE "^func ${target}\(" --include='*_test.go' . | head -1 | xargs dirname)
		echo "== fuzz ${target} (${pkg}, ${FUZZTIME})"
		go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg"
	done
fi
echo "== all tests passed"
