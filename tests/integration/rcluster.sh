#!/bin/bash
# The Redis Cluster client (controlplane/rcluster.c) against a real Redis Cluster (ft_cluster_start:
# 3 masters, 3 replicas, a password) and a plain Redis, through tests/integration/rcluster_drive
# (one command a line, one answer line each: see its header). TAP. No dataplane.
#
# Env: FS_BUILD (the build dir), REDIS_URL (a plain Redis it may write fs:{N}:* keys of random sale
# ids to; if unset, a throwaway one is started).
set -u
FS_LOG_TAG=rcluster
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
: "${FS_BUILD:=$FS_ROOT/build-test}"

DRIVE=$FS_BUILD/tests/integration/rcluster_drive
command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
	ft_skip_all "no redis-server/redis-cli"
[[ "$(redis-server --version)" =~ v=([0-9]+)\. ]] && [ "${BASH_REMATCH[1]}" -ge 7 ] ||
	ft_skip_all "redis-server older than 7 (no cluster-port)"
ft_need_built tests/integration/rcluster_drive
ft_need_built controlplane/flashctl
CTL=$FS_BUILD/controlplane/flashctl
TMP=$(mktemp -d /tmp/fs-rcluster.XXXXXX)
fs_cleanup_add "rm -rf '$TMP'"

ft_plan 24
now_ms() { echo $(($(date +%s%N) / 1000000)); }
cli() { ft_cluster_cli "$@"; }

# ---------------------------------------------------------------- the cluster and the driver

FS_DIE_HOOK=ft_setup_failed
PASS="pw-$RANDOM$RANDOM"
t=$(now_ms)
ft_cluster_start "$TMP" "$PASS"
ft_ok 0 "a Redis Cluster of 3 masters and 3 replicas is up (cluster_state:ok on all six) in $(($(now_ms) - t)) ms"
FS_DIE_HOOK=

coproc DRV { exec "$DRIVE" --timeout 2000 "$FT_CLUSTER_URL" 2>>"$TMP/drive.err"; }
DRIVE_PID=$DRV_PID # bash unsets DRV_PID once the coproc has exited
# plain copies of the coproc's pipes: bash closes the coproc's own in subshells ($(...))
exec {DRV_IN}>&"${DRV[1]}" {DRV_OUT_FD}<&"${DRV[0]}"
fs_cleanup_add "kill $DRIVE_PID 2>/dev/null"
# drv LINE [SECONDS]: one command to the driver; its answer in OUT (empty if none in time).
drv() {
	echo "$1" >&"$DRV_IN"
	drv_read "${2:-30}"
}
# drv_read SECONDS: the driver's next answer line in OUT (empty if none in time).
drv_read() { IFS= read -r -t "$1" OUT <&"$DRV_OUT_FD" || OUT=; }
# dstat NAME: a counter of the driver's stats line.
dstat() {
	drv stats
	sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$OUT"
}
# addr KEY: the "127.0.0.1:PORT" the driver's map gives KEY's slot; port KEY: its port.
addr() {
	drv "slot $1"
	awk '{ print $3 }' <<<"$OUT"
}
port() { addr "$1" | sed 's/.*://'; }
diag() { tail -n 5 "$TMP/drive.err" 2>/dev/null; }

# ---------------------------------------------------------------- slots and routing

keys=()
for i in $(seq 1 200); do keys+=("fs:{$i}:sale"); done
keys+=("fs:sales" "foo" "foo{}{bar}" "foo{{bar}}zap" "{user1000}.following" "a{b" "}{x}" "{}")
theirs=$(printf 'CLUSTER KEYSLOT %s\n' "${keys[@]}" | cli "${FT_CLUSTER_PORTS[0]}" | tr '\n' ' ')
# slots: "slot KEY" for each KEY sent at once, the answers' slot numbers (one line).
slots() {
	printf 'slot %s\n' "$@" >&"$DRV_IN"
	for _ in "$@"; do
		drv_read 30
		echo "$OUT"
	done | awk '{ print $2 }' | tr '\n' ' '
}
ours=$(slots "${keys[@]}")
[ "$ours" = "$theirs" ]
ft_ok $? "fs_rcl_slot agrees with CLUSTER KEYSLOT on ${#keys[@]} keys (hash tags)" \
	"ours:   $ours"$'\n'"theirs: $theirs"

BASE=$(((RANDOM << 15 | RANDOM) % 1000000 + 1000000))
drv "spread 300 $BASE" 120
spread=$OUT
moved=$(dstat moved) ask=$(dstat ask) noscript=$(dstat noscript)
[ "$spread" = "spread ok=600 errors=0" ] && [ "$moved" = 0 ] && [ "$ask" = 0 ]
ft_ok $? "300 sales: SET fs:{N}:sale and a script on fs:{N}:pool + fs:{N}:lease:1 each, all on the map's master (no MOVED, no ASK)" \
	"$spread moved=$moved ask=$ask; $(diag)"
[ "$noscript" = 2 ]
ft_ok $? "the script is loaded once (SCRIPT LOAD), then on each other master at its first NOSCRIPT (2)" \
	"noscript=$noscript"

bad=0 per=
for p in $(ft_cluster_masters); do
	n=$(cli "$p" --scan --pattern "fs:{*" | wc -l)
	per+="$p:$n "
	[ "$n" -gt 0 ] || bad=1
done
ids=$(seq "$BASE" 20 $((BASE + 299)))
# shellcheck disable=SC2086
printf 'slot fs:{%s}:sale\n' $ids >&"$DRV_IN"
for i in $ids; do
	drv_read 30
	p=${OUT##*:}
	got=$(printf '%s\n' "GET fs:{$i}:sale" "GET fs:{$i}:pool" "GET fs:{$i}:lease:1" |
		cli "$p" | tr '\n' ' ')
	[ "$got" = "$i $i $i " ] || { bad=1 && per+="sale $i on $p: $got; "; }
done
[ "$bad" = 0 ] && [ "$(ft_cluster_masters | wc -l)" = 3 ]
ft_ok $? "the keys are on the masters the map names (read there without redirection), every master holds some" \
	"$per"

drv "rawcross fs:{$BASE}:sale fs:sales"
[[ "$OUT" == "err EXDEV redis: CROSSSLOT"* ]]
ft_ok $? "a script on fs:{N}:sale and fs:sales sent as is: the cluster answers CROSSSLOT (-EXDEV)" "$OUT"
drv "eval 2 fs:{$BASE}:sale fs:sales 1"
[[ "$OUT" == "err EXDEV "*"different slots"* ]]
ft_ok $? "fs_rcl_eval refuses such a script itself (-EXDEV), before sending" "$OUT"

# ---------------------------------------------------------------- redis.c on the cluster

# Three sales on three different masters (and fs:sales on one of them).
ops_ids=() used=
for i in $(seq $((BASE + 400)) $((BASE + 600))); do
	p=$(port "fs:{$i}:sale")
	[[ " $used " == *" $p "* ]] && continue
	used+=" $p" ops_ids+=("$i")
	[ ${#ops_ids[@]} -lt 3 ] || break
done
ops_out=
for i in "${ops_ids[@]}"; do
	drv "ops $i"
	ops_out+="$OUT; "
done
[ "$ops_out" = "$(printf 'ops ok %s cluster=1; ' "${ops_ids[@]}")" ]
ft_ok $? "every fs_redis_* call (all 11 scripts of controlplane/lua/, fs:sales apart) on 3 sales on 3 masters through fs_redis_connect's cluster client: no CROSSSLOT" \
	"$ops_out $(diag)"

FS_N=$((BASE + 700))
fl() { timeout 20 "$CTL" --redis "$FT_CLUSTER_URL" "$@" 2>&1; }
fl_out="create: $(fl sale create --sale "$FS_N" --stock 5 --start now --end +10m | tr '\n' ' ')"
fl_list=$(fl sale list)
fl_status=$(fl sale status --sale "$FS_N")
fl_out+=" list: $(tr '\n' ' ' <<<"$fl_list") status: $(tr '\n' ' ' <<<"$fl_status")"
fl sale stop --sale "$FS_N" >/dev/null && fl sale delete --sale "$FS_N" >/dev/null
rc=$?
[ "$rc" = 0 ] && grep -qw "$FS_N" <<<"$fl_list" && [ "$(ft_val "$fl_status" stock)" = 5 ] &&
	[ "$(cli "$(port "fs:{$FS_N}:sale")" exists "fs:{$FS_N}:deleted")" = 1 ]
ft_ok $? "flashctl --redis (a cluster node's URL): sale create, list, status, stop, delete" \
	"$fl_out delete rc=$rc"

# ---------------------------------------------------------------- a slot migration: ASK, TRYAGAIN, MOVED

TAG=$BASE
K1="fs:{$TAG}:pool" K2="fs:{$TAG}:sale"
drv "slot $K1"
S=$(awk '{ print $2 }' <<<"$OUT")
A=$(port "$K1")
B=$(ft_cluster_masters | grep -vx "$A" | head -n 1)
C=$(ft_cluster_masters | grep -vx -e "$A" -e "$B")
idA=$(cli "$A" cluster myid) idB=$(cli "$B" cluster myid)
cli "$B" cluster setslot "$S" importing "$idA" >/dev/null
cli "$A" cluster setslot "$S" migrating "$idB" >/dev/null
mig=$(cli "$A" migrate 127.0.0.1 "$B" "" 0 5000 AUTH "$PASS" KEYS "$K1")
drv "cmd $K1 GET $K1"
got1=$OUT
ask=$(dstat ask) a1=$(addr "$K1")
drv "cmd $K2 GET $K2"
got2=$OUT
[ "$mig" = OK ] && [ "$got1" = "ok $TAG" ] && [ "$ask" = 1 ] && [ "$a1" = "127.0.0.1:$A" ] &&
	[ "$got2" = "ok $TAG" ] && [ "$(dstat ask)" = 1 ]
ft_ok $? "ASK: slot $S MIGRATING $A -> $B, $K1 already moved: read on $B after ASKING (ask=1), the map unchanged, $K2 still read on $A" \
	"migrate=$mig got1=$got1 ask=$ask addr=$a1 got2=$got2; $(diag)"

drv "set retry_ms 300"
t=$(now_ms)
drv "eval 2 $K1 $K2 1"
el=$(($(now_ms) - t))
[[ "$OUT" == "err EAGAIN redis: TRYAGAIN"*"gave up after"* ]] && [ "$(dstat tryagain)" -ge 2 ] &&
	[ "$el" -lt 3000 ]
ft_ok $? "a script on keys the migration split: TRYAGAIN, retried with back-off for retry_ms (300) then reported in $el ms" \
	"$OUT"
drv "set retry_ms 2000"

rest=$(cli "$A" cluster getkeysinslot "$S" 1000 | tr '\n' ' ')
# shellcheck disable=SC2086
mig=$(cli "$A" migrate 127.0.0.1 "$B" "" 0 5000 AUTH "$PASS" KEYS $rest)
for p in "$B" "$A" "$C"; do cli "$p" cluster setslot "$S" node "$idB" >/dev/null; done
moved0=$(dstat moved)
drv "cmd $K2 GET $K2"
got2=$OUT
moved1=$(dstat moved) a2=$(addr "$K2")
drv "cmd $K2 GET $K2"
[ "$mig" = OK ] && [ "$got2" = "ok $TAG" ] && [ "$moved1" = $((moved0 + 1)) ] &&
	[ "$a2" = "127.0.0.1:$B" ] && [ "$OUT" = "ok $TAG" ] && [ "$(dstat moved)" = "$moved1" ]
ft_ok $? "MOVED: slot $S given to $B (SETSLOT NODE): followed once, the map updated, the next read goes straight to $B" \
	"migrate=$mig got=$got2 moved $moved0 -> $moved1 addr=$a2 then $OUT; $(diag)"
drv "eval 2 $K1 $K2 1"
[ "$OUT" = "ok $((TAG + 1))" ]
ft_ok $? "the split script runs once the slot has moved" "$OUT"

# ---------------------------------------------------------------- failovers

# Six counters, two on each master.
ctr=()
declare -A per_m=()
for i in $(seq 1 200); do
	k="fs:{ctr$BASE.$i}:n" p=$(port "$k")
	[ "${per_m[$p]:-0}" -lt 2 ] || continue
	per_m[$p]=$((${per_m[$p]:-0} + 1))
	ctr+=("$k")
	[ ${#ctr[@]} -lt 6 ] || break
done
for k in "${ctr[@]}"; do drv "cmd $k DEL $k"; done
# counts_ok ACKED AMBIGUOUS: every counter equals its acked count (exact), else list them; with
# AMBIGUOUS (any), lost= and phantom= are counted instead.
counts() {
	local acked=$1 i=0 k v a
	CNT_DIFF= CNT_LOST=0 CNT_PHANTOM=0
	IFS=, read -r -a a <<<"$acked"
	for k in "${ctr[@]}"; do
		v=$(cli "${FT_CLUSTER_PORTS[0]}" -c get "$k" 2>/dev/null)
		[ "$v" = "${a[i]}" ] || CNT_DIFF+="$k=$v acked ${a[i]}; "
		[ "${v:-0}" -ge "${a[i]}" ] || CNT_LOST=$((CNT_LOST + ${a[i]} - ${v:-0}))
		[ "${v:-0}" -le "${a[i]}" ] || CNT_PHANTOM=$((CNT_PHANTOM + ${v:-0} - ${a[i]}))
		i=$((i + 1))
	done
}
val() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

M=$(port "${ctr[0]}")
R=$(ft_cluster_replica_of "$M")
moved0=$(dstat moved) fo=
drv "incr 3000 ${ctr[*]}"
if [ "$OUT" = started ]; then
	sleep 0.8
	fo=$(cli "$R" cluster failover)
	drv_read 60
fi
run=$OUT
role=$(cli "$R" role | head -n 1)
[ "$role" = master ] && [ "$fo" = OK ]
ft_ok $? "CLUSTER FAILOVER on $R (replica of $M) mid-run: $R is master" "failover=$fo role=$role"
[ "$(val failed "$run")" = 0 ] && [ "$(val final "$run")" = ok ]
ft_ok $? "INCRs on six counters (two per master) kept succeeding through it: no call failed, slowest $(val max_ms "$run") ms, $(($(dstat moved) - moved0)) MOVED followed" \
	"$run; $(diag)"
acked1=$(val acked "$run")
counts "$acked1"
[ -z "$CNT_DIFF" ]
ft_ok $? "counts exact afterwards: every counter = its acknowledged INCRs ($(val acked "$run"))" "$CNT_DIFF"

# An ACL user (a name that needs percent-encoding) on every node: nodes learnt from the cluster
# are reached with the seed URL's user and password.
for p in "${!FT_CLUSTER_PID[@]}"; do
	cli "$p" acl setuser "fs:ops" on ">acl-$PASS" '~*' '&*' +@all >/dev/null
done
ACL_URL="redis://fs%3Aops:acl-$PASS@127.0.0.1:${FT_CLUSTER_PORTS[1]}"
out=$(printf '%s\n' "spread 30 $((BASE + 5000))" stats | timeout 60 "$DRIVE" "$ACL_URL" 2>&1)
[[ "$out" == "spread ok=60 errors=0"*"cluster=1"* ]]
ft_ok $? "an ACL user (fs:ops) from the seed URL: commands and scripts on every master" "$out"
t=$(now_ms)
out=$(echo "cmd fs:{1}:x GET fs:{1}:x" |
	timeout 60 "$DRIVE" "redis://fs%3Aops:wrong@127.0.0.1:${FT_CLUSTER_PORTS[1]}" 2>&1)
el=$(($(now_ms) - t))
[[ "$out" == "err EACCES "*"refused"* ]] && [[ "$out" != *wrong* ]] && [ "$el" -lt 1500 ]
ft_ok $? "a wrong password: -EACCES at once ($el ms), not retried, the password not printed" "$out"

M2=$(port "${ctr[0]}")
drv "incr 5000 ${ctr[*]}"
if [ "$OUT" = started ]; then
	sleep 1
	ft_cluster_kill "$M2"
	drv_read 90
fi
run=$OUT
[ "$(val final "$run")" = ok ] && [ "$(val outage_ms "$run")" -lt 15000 ] 2>/dev/null
ft_ok $? "kill -9 of master $M2 mid-run: writes failed for $(val outage_ms "$run") ms (bound 15000), then resumed on every counter" \
	"$run; $(grep -c . "$TMP/drive.err") errors logged; $(diag)"
ft_cluster_wait_ok 20
ft_ok $? "its replica was promoted: the cluster is ok again with 3 masters ($(ft_cluster_masters | tr '\n' ' '))"
# the counters hold both runs: the first run's acknowledged INCRs added
IFS=, read -r -a a1 <<<"$acked1"
IFS=, read -r -a a2 <<<"$(val acked "$run")"
sum=
for i in "${!a2[@]}"; do sum+="${sum:+,}$((${a1[i]:-0} + ${a2[i]}))"; done
counts "$sum"
[ "$CNT_PHANTOM" -le "$(val ambiguous "$run")" ]
ft_ok $? "no counter above its acknowledged INCRs beyond the $(val ambiguous "$run") that may have run; acknowledged but lost with the killed master: $CNT_LOST" \
	"$CNT_DIFF"
drv stats
echo "# driver: $OUT"

# end of input for the driver: every copy of its stdin's write end closed
exec {DRV_IN}>&- {DRV_OUT_FD}<&-
[ -z "${DRV[1]:-}" ] || eval "exec ${DRV[1]}>&- ${DRV[0]}<&-"
wait "$DRIVE_PID" 2>/dev/null

# ---------------------------------------------------------------- a plain Redis

fs_redis_start "$TMP"
P=$(((RANDOM << 15 | RANDOM) % 1000000 + 3000000))
out=$(printf '%s\n' "spread 20 $P" "cmd fs:{$P}:pool GET fs:{$P}:pool" "eval 2 fs:{$P}:sale fs:sales 1" \
	"cmd - DBSIZE" stats "ops $((P + 100))" | timeout 60 "$DRIVE" "$REDIS_URL" 2>&1)
fs_cleanup_add "redis-cli -u '$REDIS_URL' del 'fs:{$((P + 100))}:deleted' >/dev/null"
for i in $(seq "$P" $((P + 19))); do
	fs_cleanup_add "redis-cli -u '$REDIS_URL' del 'fs:{$i}:sale' 'fs:{$i}:pool' 'fs:{$i}:lease:1' >/dev/null"
done
got=$(timeout 10 redis-cli -u "$REDIS_URL" get "fs:{$((P + 7))}:lease:1")
[[ "$(sed -n 1,2p <<<"$out" | tr '\n' ' ')" == "spread ok=40 errors=0 ok $P " ]] &&
	[[ "$out" == *"stats cluster=0 moved=0 ask=0"* ]] && [ "$got" = $((P + 7)) ]
ft_ok $? "a plain Redis: the same commands and scripts, every slot on the seed (cluster=0)" "$out"
[[ "$(sed -n 3p <<<"$out")" == "err EXDEV "*"different slots"* ]]
ft_ok $? "a plain Redis: a script on two slots is refused all the same (-EXDEV)" "$out"
[ "$(sed -n 6p <<<"$out")" = "ops ok $((P + 100)) cluster=0" ]
ft_ok $? "a plain Redis: every fs_redis_* call as before (no cluster client)" "$out"

[ "$FAILS" -eq 0 ]
