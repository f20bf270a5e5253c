#!/bin/bash
# Runs fuzz_rx for SECONDS from a fresh seed corpus and prints one TAP test (meson suite 'fuzz').
#
# Usage: tests/fuzz/run.sh FUZZER [SECONDS]   (default 60)
# Env: FS_FUZZ_ARTIFACTS: where crash/timeout inputs and fuzz.log are kept (default: next to FUZZER).
# Prints the executions, executions/s, corpus growth and, on a finding, the input's path; exits
# non-zero on a crash, a broken invariant, a leak or a timeout.
set -u
here=$(cd "$(dirname "$0")" && pwd)
fuzzer=${1:?usage: run.sh FUZZER [SECONDS]}
secs=${2:-60}
art=${FS_FUZZ_ARTIFACTS:-$(dirname "$fuzzer")/artifacts}
mkdir -p "$art"
art=$(cd "$art" && pwd)
work=$(mktemp -d /tmp/fs-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

echo "1..1"
if ! python3 "$here/make_corpus.py" "$work/corpus" >"$work/corpus.out" 2>&1; then
	echo "not ok 1 - fuzz_rx: seed corpus not made"
	sed 's/^/# /' "$work/corpus.out"
	exit 1
fi
seeds=$(find "$work/corpus" -type f | wc -l)
log=$art/fuzz.log
start=$(date +%s)
# FS_FUZZ_DIR: the target's journals go under the work dir, removed here even after a crash.
FS_FUZZ_DIR=$work "$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-max_len=1600 -dict="$here/rx.dict" -print_final_stats=1 -artifact_prefix="$art/" \
	"$work/corpus" >"$log" 2>&1
rc=$?
elapsed=$(($(date +%s) - start))
stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
execs=$(stat number_of_executed_units)
rate=$(stat average_exec_per_sec)
added=$(stat new_units_added)
cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | sed 's/cov: //')
finding=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
echo "# fuzz_rx: ${elapsed} s, seeds $seeds, executions ${execs:-?}, executions/s ${rate:-?}," \
	"new corpus units ${added:-?}, coverage ${cov:-?} edges"
if [ "$rc" -eq 0 ] && [ -z "$finding" ]; then
	echo "ok 1 - fuzz_rx ${secs} s: ${execs:-?} executions (${rate:-?}/s), no finding"
	exit 0
fi
echo "not ok 1 - fuzz_rx ${secs} s: finding after ${execs:-?} executions (exit $rc)"
[ -n "$finding" ] && echo "# crash input: $finding (replay: $fuzzer $finding)"
grep -E 'ERROR|invariant|SUMMARY|runtime error|#[0-9]+ 0x.* in (fs_|fz_|LLVMFuzzerTestOneInput)' \
	"$log" | head -n 20 | sed 's/^/# /'
echo "# full log: $log"
exit 1
