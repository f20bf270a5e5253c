#!/bin/bash
# The main job: a 500-unit flash sale flooded by 100,000 users (flashgen) and a few kernel clients,
# each order held FS_DEMO_HOLD seconds (default 20) for its payment: a scripted merchant (psql,
# flashsale.pay / flashsale.cancel) has 70 % of the winners pay and 10 % cancel, the other 20 % let
# their hold expire; their units come back (flashctl daemon --pg) and a second wave of 5,000 new
# users wins them again and pays. FS_DEMO_HOLD=0: the sale without holds (no merchant, no wave 2).
#
# --nodes N (2..4): the sale (no holds) sold by N nodes on this machine, each its own flashsale-dp
# (one worker), flashsale-persist and flashctl daemon leasing the stock in chunks from the one
# Redis, and its own flashgen crowd (scripts/lib-nodes.sh); the report adds each node's WONs and
# the units' conservation (stock = pool + unsold at the nodes + sold). --nodes 1: the default.
#
# Does its own set-up (Debian packages, release build, hugepages, a throwaway Redis and PostgreSQL
# on loopback unless REDIS_URL / PG_URL name real ones), starts flashsale-dp, flashsale-persist and
# flashctl daemon, runs the sale, prints one report and checks the invariants (PASS/FAIL each).
# Exit 0 only if every check passes. Stops everything it started, also on failure and Ctrl-C.
# Environment: FS_BUILD_DIR (default build-release), REDIS_URL, PG_URL; knobs in scripts/lib.sh.
set -euo pipefail
FS_LOG_TAG="demo"
usage_err() { echo "demo: $*" >&2; exit 2; }
nodes=1
while [ $# -gt 0 ]; do
	case $1 in
	--nodes) [ $# -ge 2 ] || usage_err "--nodes needs a value (1..4)"; nodes=$2; shift 2 ;;
	--nodes=*) nodes=${1#*=}; shift ;;
	*) usage_err "unknown argument '$1' (usage: scripts/demo.sh [--nodes 1..4])" ;;
	esac
done
[[ $nodes =~ ^[1-4]$ ]] || usage_err "--nodes must be a number of nodes, 1..4 (got '$nodes')"
FS_HOLD_S=${FS_DEMO_HOLD:-20}
[[ $FS_HOLD_S =~ ^[0-9]+$ ]] && [ "$FS_HOLD_S" -le 3600 ] ||
	usage_err "FS_DEMO_HOLD must be a number of seconds, 0..3600 (0: no holds)"
if [ "$nodes" -gt 1 ]; then
	[ "$FS_HOLD_S" = 0 ] || [ -z "${FS_DEMO_HOLD:-}" ] ||
		usage_err "--nodes $nodes runs the sale without holds: FS_DEMO_HOLD must be 0 or unset"
	FS_HOLD_S=0
fi
# shellcheck source=scripts/lib.sh disable=SC2034
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/lib-nodes.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-nodes.sh"

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
run_rc=0
if [ "$nodes" = 1 ]; then
	fs_stack_start "$work"
	fs_sale_run "$work" || run_rc=$?
else
	fs_nodes_start "$work" "$nodes"
	fs_nodes_sale_run "$work" || run_rc=$?
fi
fs_log "sale over after $(($(date +%s) - t0)) s; waiting for flashsale-persist and the daemon"
fs_stack_settle "$work"
if [ "$FS_HOLD_S" != 0 ]; then
	fs_holds_run "$work" || run_rc=$?
	fs_stack_settle "$work"
fi
if [ "$nodes" = 1 ]; then
	fs_stack_audit "$work"
else
	fs_nodes_audit "$work"
	fs_nodes_collect "$work"
fi

echo
fs_report
[ "$nodes" = 1 ] || fs_nodes_report
failed=0
fs_checks plain || failed=$?
[ "$nodes" = 1 ] || fs_nodes_checks plain || failed=$((failed + $?))
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
