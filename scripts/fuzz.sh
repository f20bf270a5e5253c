#!/bin/bash
# Fuzzes the receive path (tests/fuzz/fuzz_rx.c, libFuzzer + ASan + UBSan) for SECONDS (default 60).
#
# Usage: scripts/fuzz.sh [SECONDS]
# Builds the clang build dir build-fuzz (FS_FUZZ_BUILD_DIR to change it), makes a fresh seed corpus,
# runs the fuzzer and prints executions, executions/s and findings. Exits non-zero on a finding (a
# crash, a sanitizer report or a broken invariant); the input that did it is kept and its path
# printed (build-fuzz/tests/fuzz/artifacts/crash-*), with the full log next to it.
set -euo pipefail
FS_LOG_TAG=fuzz
# shellcheck source=scripts/lib.sh disable=SC2034
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

secs=${1:-60}
[[ $secs =~ ^[0-9]+$ ]] && [ "$secs" -ge 1 ] || fs_die "usage: scripts/fuzz.sh [SECONDS]"
build=${FS_FUZZ_BUILD_DIR:-$FS_ROOT/build-fuzz}
case $build in /*) ;; *) build=$PWD/$build ;; esac

fs_deps
# libFuzzer needs clang: a build dir of its own, configured with CC=clang.
CC=clang fs_build "$build" "" -Dtests=true
[ -x "$build/tests/fuzz/fuzz_rx" ] ||
	fs_die "$build has no tests/fuzz/fuzz_rx: not a clang build dir? (remove it, or set FS_FUZZ_BUILD_DIR)"
bash "$FS_ROOT/tests/fuzz/run.sh" "$build/tests/fuzz/fuzz_rx" "$secs"
