#!/bin/bash
# The main job: a 500-unit flash sale flooded by 100,000 users (flashgen) and a few kernel clients,
# each order held FS_DEMO_HOLD seconds (default 20) for its payment: a scripted merchant (psql,
# flashsale.pay / flashsale.cancel) has 70 % of the winners pay and 10 % cancel, the other 20 % let
# their hold expire; their units come back (flashctl daemon --pg) and a second wave of 5,000 new
# users wins them again and pays. FS_DEMO_HOLD=0: the sale without holds (no merchant, no wave 2).
#
# Does its own set-up (Debian packages, release build, hugepages, a throwaway Redis and PostgreSQL
# on loopback unless REDIS_URL / PG_URL name real ones), starts flashsale-dp, flashsale-persist and
# flashctl daemon, runs the sale, prints one report and checks the invariants (PASS/FAIL each).
# Exit 0 only if every check passes. Stops everything it started, also on failure and Ctrl-C.
# Environment: FS_BUILD_DIR (default build-release), REDIS_URL, PG_URL; knobs in scripts/lib.sh.
set -euo pipefail
FS_LOG_TAG="demo"
FS_HOLD_S=${FS_DEMO_HOLD:-20}
[[ $FS_HOLD_S =~ ^[0-9]+$ ]] && [ "$FS_HOLD_S" -le 3600 ] ||
	{ echo "demo: FS_DEMO_HOLD must be a number of seconds, 0..3600 (0: no holds)" >&2; exit 2; }
# shellcheck source=scripts/lib.sh disable=SC2034
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

fs_is_root || fs_die "run as root (hugepages, tap interface, PostgreSQL as the postgres user)"
FS_BUILD=${FS_BUILD_DIR:-$FS_ROOT/build-release}
case $FS_BUILD in /*) ;; *) FS_BUILD=$PWD/$FS_BUILD ;; esac
if [ -t 1 ]; then FS_LIVE="tty"; else FS_LIVE="lines"; fi

fs_deps
fs_build "$FS_BUILD" release
fs_hugepages
work=$(mktemp -d /tmp/flashsale-demo.XXXXXX)
fs_cleanup_add "[ \"\${FS_KEEP:-0}\" = 1 ] || rm -rf '$work'"
fs_redis_start "$work"
fs_pg_start "$work"

t0=$(date +%s)
fs_stack_start "$work"
run_rc=0
fs_sale_run "$work" || run_rc=$?
fs_log "sale over after $(($(date +%s) - t0)) s; waiting for flashsale-persist and the daemon"
fs_stack_settle "$work"
if [ "$FS_HOLD_S" != 0 ]; then
	fs_holds_run "$work" || run_rc=$?
	fs_stack_settle "$work"
fi
fs_stack_audit "$work"

echo
fs_report
failed=0
fs_checks plain || failed=$?
if [ "$run_rc" -ne 0 ]; then
	echo "FAIL  flashgen ran to the end (exit status $run_rc)"
	failed=$((failed + 1))
fi
if [ "$failed" -eq 0 ]; then
	echo "demo: all checks passed ($(($(date +%s) - t0)) s)"
else
	FS_KEEP=1
	grep '^drift' "$work/audit.out" 2>/dev/null | head -n 10
	echo "demo: $failed check(s) failed; logs and state kept in $work"
fi
[ "$failed" -eq 0 ]
