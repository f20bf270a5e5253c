#!/bin/bash
# Fault test, TAP: a sale with holds (issue 11) whose holds expire, are paid and cancelled while
# its parts are killed: the sweepers (`flashctl sweep` loops, SIGKILL at random points), the daemon
# in the middle of applying returns (between return.lua and the mark: FS_TEST_RETURN_MARK_DELAY_MS
# widens that window), the dataplane (SIGKILL, restarted on the same state dir), flashsale-persist
# (SIGKILL), Redis (SIGKILL, restarted empty), PostgreSQL (restart -m immediate, then -m fast).
# Waves of new users (flashgen over memif) win the units that come back while it goes on.
#
# At the end, once every hold is settled: no unit returned twice, none lost, conservation holds:
# flashctl audit finds no drift, stock = pool + unsold at the node + held + paid,
# released (cancelled + expired) = rows of stock_returns = applied = Redis's returned set =
# released on the dataplane, and every WON reply has its order in PostgreSQL.
#
# Runs its own throwaway Redis and PostgreSQL (REDIS_URL / PG_URL are ignored: it restarts them).
# Needs root, hugepages and /dev/net/tun, else skipped; skipped too when the dataplane refuses
# hold= (a dataplane without the holds side of issue 11). Env: FS_BUILD (default ./build-test),
# FS_HF_SEED (the random points; default: random, printed).
set -euo pipefail
FS_LOG_TAG=holds_faults
# shellcheck source=../lib.sh disable=SC2034
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FS_BUILD=${FS_BUILD:-$FS_ROOT/build-test}
# shellcheck disable=SC2034 # the stack's knobs (scripts/lib.sh)
FS_NAME=fshf$$ FS_NET=10.87.$(($$ % 250)) FS_STOCK=300 FS_USERS=1000 FS_CLAIMS=1 FS_CLIENTS=0
# shellcheck disable=SC2034
FS_START_IN=2 FS_END_IN=900 FS_HOLD_S=2 FS_LIVE=none
SEED=${FS_HF_SEED:-$((RANDOM))}
RANDOM=$SEED
# every return batch of the daemon waits this long between return.lua and its mark
export FS_TEST_RETURN_MARK_DELAY_MS=300

ft_need_stack
# shellcheck disable=SC2034 # read by ft_ok (tests/lib.sh)
FT_DIAG_BYTES=3000
bail() { echo "Bail out! $*" | head -n 20; }
FS_DIE_HOOK=bail

work=$(mktemp -d /tmp/fs-holds-faults.XXXXXX)
# kept unless the script gets to its end with every test passed
FS_KEEP=1
fs_cleanup_add "[ \"\${FS_KEEP:-0}\" = 1 ] && echo '# logs and state kept in $work' >&2 || rm -rf '$work'"
unset REDIS_URL PG_URL
fs_redis_start "$work" 2>/dev/null
fs_pg_start "$work" 2>/dev/null
fs_stack_start "$work" 2>"$work/stack.err"
CTL=$FS_BUILD/controlplane/flashctl
ft_dp_holds "${FS_NAME}dp" $((FS_SALE + 1)) ||
	ft_skip_all "the dataplane refuses hold= (no holds side of issue 11): $(tr -d '\n' <<<"$FT_TEL")"

ft_plan 14
echo "# seed $SEED (FS_HF_SEED), work dir $work"
T0=$SECONDS
# q SQL: PostgreSQL's answer, empty if it is down (status 0 always: set -e)
q() { timeout 20 psql "$PG_URL" -XAtq -v ON_ERROR_STOP=1 -c "$1" 2>/dev/null || true; }
# rsleep MIN_MS MAX_MS: a random sleep between the two
rsleep() { sleep "$(printf '0.%03d' $(($1 + RANDOM % ($2 - $1 + 1))))"; }

# ---------------------------------------------------------------- the sale, the first wave
fs_sale_run "$work" 2>>"$work/stack.err" || fs_die "the first wave failed: $(tail -n 5 "$work/gen.err")"
fs_stack_settle "$work" 2>>"$work/stack.err"
ft_ok "$([ "$FS_R_WON" = "$FS_STOCK" ] && echo 0 || echo 1)" \
	"sale $FS_SALE (stock $FS_STOCK, hold ${FS_HOLD_S}s) sold out by the first wave ($FS_R_WON WON)" \
	"$(cat "$work/gen.out")"

# ---------------------------------------------------------------- what goes on during the faults
# merchant PAY% CANCEL%: of the orders held now, pick some to pay and some to cancel (one psql
# statement; PostgreSQL may be down: then nothing). The rest expire.
merchant() {
	q "select flashsale.pay($FS_SALE, order_id) from orders where sale_id = $FS_SALE
		and status = 'held' and random() < $1 / 100.0;
	   select flashsale.cancel($FS_SALE, order_id) from orders where sale_id = $FS_SALE
		and status = 'held' and random() < $2 / 100.0" >/dev/null || true
}
# sweepers: two loops of `flashctl sweep` (small batches, so a kill finds one mid-way)
SWEEP_LOOPS=()
for _ in 1 2; do
	(while :; do
		"$CTL" sweep --batch 3 --until-empty --pg "$PG_URL" >/dev/null 2>&1 || true
		sleep 0.05
	done) &
	SWEEP_LOOPS+=($!)
	fs_cleanup_add "fs_stop $! 2"
done
# a wave: WAVE_USERS new users, one claim each, over memif (flashgen reconnects after a restart).
# 12 waves of 20: at most 540 orders for the 300 units, under twice the stock (the winner table
# of a sale with holds is sized for each unit won twice: a dataplane restarted with more orders
# than its table holds skips some, a limit of its own, not what this test is about)
WAVE=1 WAVE_USERS=20
wave_start() {
	WAVE=$((WAVE + 1))
	fs_gen_start "$work" "w$WAVE" $((100000 * WAVE)) "$WAVE_USERS" 1 8
}
# (a wave that starts while the dataplane restarts finds no memif socket and ends at once: fine)
wave_end() {
	wait "$FS_GEN_PID" ||
		echo "# wave $WAVE: flashgen exit $?: $(grep -v '^progress' "$work/w$WAVE.err" | tail -n 2 | tr '\n' ' ')"
}

# ---------------------------------------------------------------- the faults
# kill_sweepers N: SIGKILL the running `flashctl sweep` of a loop, N times at random points.
kill_sweepers() {
	local k hit=0 loop c
	for ((k = 0; k < $1; k++)); do
		rsleep 20 300
		loop=${SWEEP_LOOPS[RANDOM % 2]}
		c=$(cat "/proc/$loop/task/$loop/children" 2>/dev/null) || c=
		for c in $c; do kill -KILL "$c" 2>/dev/null && hit=$((hit + 1)); done
	done
	echo "$hit"
}
# daemon_round PASS: a wave; cancels (returns to apply); wait for the daemon's "marking them
# applied in" line (returns in Redis, rows not marked yet), SIGKILL it within that window, restart
# it. (Not in a subshell: FS_CTL_PID changes.)
marks() { grep -c 'marking them applied in' "$work/ctl.log" 2>/dev/null || true; }
daemon_round() {
	local n0
	wave_start
	# shellcheck disable=SC2034 # read by the eval below
	n0=$(marks)
	merchant 10 30
	if ft_wait_for 10 eval '[ "$(marks)" -gt "$n0" ]'; then
		rsleep 0 200
		HITS[daemon]=$((${HITS[daemon]:-0} + 1))
	else
		BAD[daemon]+=" pass $1: no return batch to kill in 10 s;"
	fi
	kill -KILL "$FS_CTL_PID" 2>/dev/null
	wait "$FS_CTL_PID" 2>/dev/null || true
	fs_stack_daemon_start "$work" 2>>"$work/stack.err" || BAD[daemon]+=" pass $1: no restart;"
	wave_end
	merchant 5 10
}
# kill_restart WHAT: SIGKILL the dataplane (dp) or persist at a random point, restart it.
kill_restart() {
	local pid
	rsleep 100 900
	case $1 in
	dp) pid=$FS_DP_PID ;;
	persist) pid=$FS_PERSIST_PID ;;
	esac
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
	case $1 in
	dp) fs_stack_dp_start "$work" 2>>"$work/stack.err" ;;
	persist) fs_stack_persist_start "$work" 2>>"$work/stack.err" ;;
	esac
}

declare -A HITS=() BAD=()
# round KIND: a wave, the merchant, one fault of KIND at a random point, the wave's end.
round() {
	local kind=$1 r
	wave_start
	merchant 10 25
	case $kind in
	sweep) r=$(kill_sweepers 8) ;;
	dp | persist) kill_restart "$kind" && r=1 || r=0 ;;
	redis)
		rsleep 100 900
		fs_redis_restart "$work" && r=1 || r=0
		;;
	pg)
		rsleep 100 900
		fs_pg_restart "$work" "$2" && r=1 || r=0
		;;
	esac
	HITS[$kind]=$((${HITS[$kind]:-0} + ${r:-0}))
	[ "${r:-0}" != 0 ] || BAD[$kind]+=" round $kind${2:+ $2} failed;"
	wave_end
	merchant 5 10
}

for pass in 1 2; do
	round sweep
	daemon_round $pass
	round dp
	round persist
	round redis
	if [ $pass = 1 ]; then round pg immediate; else round pg fast; fi
done
kill -0 "$FS_DP_PID" 2>/dev/null || BAD[dp]+=" dead at the end;"
echo "# faults done after $((SECONDS - T0)) s"

ft_ok "$([ "${HITS[sweep]:-0}" -gt 0 ] && echo 0 || echo 1)" \
	"sweepers SIGKILLed ${HITS[sweep]:-0} times mid-sweep (two loops of flashctl sweep --batch 3)"
ft_ok "$([ "${HITS[daemon]:-0}" = 2 ] && [ -z "${BAD[daemon]:-}" ] && echo 0 || echo 1)" \
	"the daemon SIGKILLed twice between return.lua and the mark (window ${FS_TEST_RETURN_MARK_DELAY_MS} ms), restarted" \
	"${BAD[daemon]:-}$(grep -h 'marking them applied' "$work"/ctl.log* | tail -n 4)"
ft_ok "$([ "${HITS[dp]:-0}" = 2 ] && [ -z "${BAD[dp]:-}" ] && echo 0 || echo 1)" \
	"the dataplane SIGKILLed twice mid-wave, restarted on the same state dir" \
	"${BAD[dp]:-} $(tail -n 5 "$work/dp.log")"
ft_ok "$([ "${HITS[persist]:-0}" = 2 ] && echo 0 || echo 1)" \
	"flashsale-persist SIGKILLed twice mid-wave, restarted" "${BAD[persist]:-} $(tail -n 5 "$work/persist.log")"
ft_ok "$([ "${HITS[redis]:-0}" = 2 ] && echo 0 || echo 1)" \
	"Redis SIGKILLed twice, restarted empty on the same port" "${BAD[redis]:-}"
ft_ok "$([ "${HITS[pg]:-0}" = 2 ] && echo 0 || echo 1)" \
	"PostgreSQL restarted twice (-m immediate, -m fast)" "${BAD[pg]:-} $(tail -n 5 "$work/pg/postgres.log")"

# ---------------------------------------------------------------- settle
for l in "${SWEEP_LOOPS[@]}"; do fs_stop "$l" 2; done
# every part up (a restart that failed above gets one more chance)
fs__alive "$FS_DP_PID" || fs_stack_dp_start "$work" 2>>"$work/stack.err" || true
fs__alive "$FS_PERSIST_PID" || fs_stack_persist_start "$work" 2>>"$work/stack.err" || true
fs__alive "$FS_CTL_PID" || fs_stack_daemon_start "$work" 2>>"$work/stack.err" || true
# the holds left run out (FS_HOLD_S), the daemon sweeps them, returns and releases every unit
settled() {
	[ "$(q "select count(*) filter (where o.status = 'held') + (select count(*) from stock_returns r
		where r.sale_id = $FS_SALE and not (r.applied and r.released_on_node))
		from orders o where o.sale_id = $FS_SALE")" = 0 ]
}
rc=0
ft_wait_for 40 settled || rc=$?
ft_ok $rc "settled: no order held, every return applied to the pool and released on the dataplane (in 40 s)" \
	"$(q "select status, count(*) from orders where sale_id = $FS_SALE group by 1") $(tail -n 5 "$work/ctl.log")"

# ---------------------------------------------------------------- the invariants
cat "$work"/won.gen "$work"/won.w* >"$work/won.all" 2>/dev/null || true
row=$(q "select count(*) filter (where status = 'cancelled') + count(*) filter (where status = 'expired'),
	count(*) filter (where status = 'paid'), count(*) filter (where status = 'held'), count(*)
	from orders where sale_id = $FS_SALE")
IFS='|' read -r released paid held orders <<<"$row"
row=$(q "select count(*), count(*) filter (where applied), count(*) filter (where released_on_node)
	from stock_returns where sale_id = $FS_SALE")
IFS='|' read -r rows applied on_node <<<"$row"
returned=$(fs_redis SCARD "fs:{$FS_SALE}:returned")
pool=$(fs_redis GET "fs:{$FS_SALE}:pool")
lease=$(fs_redis GET "fs:{$FS_SALE}:lease:$FS_NODE")
st=$(timeout 10 "$CTL" --redis "$REDIS_URL" --dp "${FS_NAME}dp" sale status --sale "$FS_SALE" 2>&1 || true)
dp_leased=$(fs__val "$st" dp_leased) dp_sold=$(fs__val "$st" dp_sold)
echo "# released $released paid $paid held $held orders $orders; stock_returns $rows applied $applied on node $on_node; Redis returned $returned pool $pool lease $lease; dp leased $dp_leased sold $dp_sold"

ft_ok "$([ -n "$rows" ] && [ "$rows" -gt 0 ] && [ "$released" = "$rows" ] && [ "$applied" = "$rows" ] &&
	[ "$on_node" = "$rows" ] && echo 0 || echo 1)" \
	"released = rows of stock_returns = applied = released on the dataplane ($released = $rows = $applied = $on_node > 0)"
ft_ok "$([ "$returned" = "$rows" ] && [ $((${pool:-0} + ${lease:-0})) = $((FS_STOCK + rows)) ] && [ -n "$pool" ] && [ -n "$lease" ] && echo 0 || echo 1)" \
	"no unit returned twice: Redis's returned set = the rows, pool + lease = stock + returned ($pool + $lease = $FS_STOCK + $returned)"
ft_ok "$([ "$dp_sold" = "$orders" ] && [ "$dp_leased" = "$lease" ] &&
	[ $((dp_leased - dp_sold + held + paid)) = $((FS_STOCK - pool)) ] && echo 0 || echo 1)" \
	"none lost: stock = pool + unsold at the node + held + paid ($FS_STOCK = $pool + $((dp_leased - dp_sold)) + $held + $paid); the node sold $dp_sold = $orders orders"
missing=$(ft_won_missing "$work/won.all" "$FS_SALE" 2>&1 || echo '?')
ft_ok "$([ "$missing" = 0 ] && echo 0 || echo 1)" \
	"every WON reply ($(grep -c . "$work/won.all") of all the waves) has its order in PostgreSQL ($missing missing)"
# fs:{N}:remaining (stock + returned - sold) is republished when the node's sold count changes
# and every 10 s: after the last returns it may lag that long
FS_AUDIT_WAIT_S=15 fs_stack_audit "$work"
ft_ok "$FS_R_AUDIT_RC" "flashctl audit: no drift (drifts $FS_R_DRIFTS; units_total $(fs__kv "$work/audit.out" units_total))" \
	"$(grep -E '^drift|^units|^pg_|^redis_' "$work/audit.out")"
ft_ok "$([ $((SECONDS - T0)) -lt 180 ] && echo 0 || echo 1)" "done in under 3 minutes ($((SECONDS - T0)) s)"
[ "$FAILS" -ne 0 ] || FS_KEEP=0
exit $((FAILS > 0))
