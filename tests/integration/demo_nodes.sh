#!/bin/bash
# The demo on three nodes (scripts/demo.sh --nodes 3), TAP, at a small scale: one line per
# invariant.
#
# Stock 300, three nodes on this machine (each its own flashsale-dp with one worker,
# flashsale-persist and flashctl daemon leasing chunks from one Redis), 1,000 users x 2 claims
# each from a flashgen per node + 3 kernel clients spread over the nodes' taps, against REDIS_URL
# and PG_URL (throwaway ones started here when unset): the demo's invariants, then each node's
# WONs, sold and orders, the units' conservation (stock = pool + unsold at nodes + sold) and no
# user winning twice; and demo.sh's refusal of a bad --nodes. Needs root, hugepages and
# /dev/net/tun, else skipped. Env: FS_BUILD (build dir; default ./build-test).
set -euo pipefail
FS_LOG_TAG=demo_nodes
# shellcheck source=../lib.sh disable=SC2034
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=../../scripts/lib-nodes.sh
. "$FS_ROOT/scripts/lib-nodes.sh"

ft_build build-test
FS_NAME=fsdn$$ FS_NET=10.79.$(($$ % 240 + 10)) FS_STOCK=300 FS_USERS=3000 FS_CLAIMS=2 FS_CLIENTS=3
FS_START_IN=3 FS_END_IN=40 FS_LIVE=none FS_REPORT_PREFIX='# '

ft_need_stack
ft_need_hugepages 768

n_checks=$((2 + FS_CHECK_COUNT + FS_NODES_CHECK_COUNT))
ft_plan "$n_checks"
# A set-up failure (fs_die): every test fails, the invariants are reported as not run.
FS_DIE_HOOK=ft_setup_failed

ft_workdir work demo-nodes
fs_redis_start "$work"
fs_pg_start "$work"
fs_nodes_start "$work" 3
run_rc=0
fs_nodes_sale_run "$work" || run_rc=$?
FS_DIE_HOOK=
fs_stack_settle "$work"
fs_nodes_audit "$work"
fs_nodes_collect "$work"
if [ $run_rc -eq 0 ]; then
	echo "ok 1 - three nodes start and the sale runs"
else
	echo "not ok 1 - three nodes start and the sale runs (flashgen exit status $run_rc)"
fi
fs_report
fs_nodes_report
failed=0
fs_checks tap 2 || failed=$?
fs_nodes_checks tap $((2 + FS_CHECK_COUNT)) || failed=$((failed + $?))
T=$((n_checks - 1)) FAILS=0
FT_ONE_LINE=1 ft_expect_exit 2 "demo.sh --nodes 0 is refused" bash "$FS_ROOT/scripts/demo.sh" --nodes 0
if [ "$failed" -ne 0 ] || [ $run_rc -ne 0 ] || [ "$FAILS" -ne 0 ]; then
	FS_KEEP=1
	echo "# logs and state kept in $work"
	exit 1
fi
