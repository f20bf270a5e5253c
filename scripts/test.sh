#!/bin/bash
# Runs every test suite (unit, integration, fault, fuzz) after doing its own set-up; prints "N passed, N failed".
#
# Set-up: missing Debian packages, the build (tests on), hugepages, a throwaway Redis and PostgreSQL
# on loopback (unless REDIS_URL / PG_URL name real ones). Environment: FS_BUILD_DIR (default
# build-test), REDIS_URL, PG_URL, FS_TEST_ARGS (extra `meson test` arguments). The suite 'fuzz'
# (60 s of tests/fuzz/fuzz_rx) needs clang: it runs in a second build dir, FS_FUZZ_BUILD_DIR
# (default build-fuzz), configured with CC=clang; its results are counted with the others.
#
# Usage: scripts/test.sh [TEST...]: with TEST names (meson test names, e.g. `test_claim e2e`), only
# those run, and the fuzz build and suite are left out.
set -euo pipefail
FS_LOG_TAG="test"
# shellcheck source=scripts/lib.sh disable=SC2034
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build=${FS_BUILD_DIR:-$FS_ROOT/build-test}
case $build in /*) ;; *) build=$PWD/$build ;; esac
fuzz_build=${FS_FUZZ_BUILD_DIR:-$FS_ROOT/build-fuzz}
case $fuzz_build in /*) ;; *) fuzz_build=$PWD/$fuzz_build ;; esac

only=("$@")
fs_deps
fs_build "$build" "" -Dtests=true
if [ ${#only[@]} -eq 0 ]; then
	CC=clang fs_build "$fuzz_build" "" -Dtests=true
	[ -x "$fuzz_build/tests/fuzz/fuzz_rx" ] ||
		fs_die "$fuzz_build has no tests/fuzz/fuzz_rx: not a clang build dir? (remove it, or set FS_FUZZ_BUILD_DIR)"
fi
# Without hugepages (not root, a container) the DPDK tests skip themselves; the rest still runs.
if fs_is_root; then
	(fs_hugepages) || fs_log "warning: no hugepages; the tests that need them will skip"
else
	fs_log "not root: hugepages left as they are"
fi
work=$(mktemp -d /tmp/flashsale-test.XXXXXX)
fs_cleanup_add "rm -rf '$work'"
fs_redis_start "$work"
fs_pg_start "$work"
export REDIS_URL PG_URL FS_BUILD=$build

logs=()
dirs=("$build")
[ ${#only[@]} -ne 0 ] || dirs+=("$fuzz_build")
for b in "${dirs[@]}"; do
	logs+=("$b/meson-logs/testlog.junit.xml" "$b/meson-logs/testlog.json")
	rm -f "$b/meson-logs/testlog.junit.xml" "$b/meson-logs/testlog.json"
done
suites=()
for s in unit integration fault; do suites+=(--suite "$s"); done
if [ ${#only[@]} -ne 0 ]; then
	# meson test NAME with an unknown NAME runs nothing and exits 0: refuse it instead
	known=$(meson test -C "$build" --list 2>/dev/null | sed 's/.* \/ //')
	for t in "${only[@]}"; do
		grep -qxF "$t" <<<"$known" || fs_die "no test named '$t' (meson test -C $build --list)"
	done
	suites=("${only[@]}")
fi
meson_rc=0
# Suites that have no test yet select nothing: meson then runs the others.
# shellcheck disable=SC2086
meson test -C "$build" --print-errorlogs "${suites[@]}" ${FS_TEST_ARGS:-} </dev/null || meson_rc=$?
# The fuzz suite, in the clang build dir.
[ ${#only[@]} -ne 0 ] ||
	meson test -C "$fuzz_build" --print-errorlogs --suite fuzz </dev/null || meson_rc=$?

# Count every test that ran, in both build dirs (scripts/test_count.py says how).
counts=$(python3 "$FS_ROOT/scripts/test_count.py" "${logs[@]}") || counts=$'0 passed, 1 failed\n1'
summary=$(sed -n 1p <<<"$counts")
failed=$(sed -n 2p <<<"$counts")
[ "$meson_rc" -eq 0 ] || fs_log "meson test exited with status $meson_rc"
echo "$summary"
[ "$meson_rc" -eq 0 ] && [ "$failed" -eq 0 ]
