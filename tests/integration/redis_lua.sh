#!/bin/bash
# The control plane's Redis Lua scripts (controlplane/lua/*.lua), run as files with
# `redis-cli --eval` against a real Redis, TAP: leases, totals, states, delete, and the holds'
# returns (return.lua exactly once per order, restock.lua, the returned set in lease, totals
# and rebuild). No dataplane needed.
#
# Env: FS_BUILD (unused but accepted), REDIS_URL (a Redis it may write fs:* keys to; sale ids are
# random so it can share one; if unset and redis-server exists, it starts a throwaway one).
set -u
FS_LOG_TAG=redis_lua
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

LUA=$FS_ROOT/controlplane/lua
ft_workdir TMP redis-lua
ft_need_cmd redis-cli
if [ -z "${REDIS_URL:-}" ] && ! command -v redis-server >/dev/null; then
	ft_skip_all "no REDIS_URL and no redis-server"
fi
fs_redis_start "$TMP"

ft_plan 24
# ev SCRIPT KEY... , ARG...: run controlplane/lua/SCRIPT.lua; its reply, one value a line.
ev() {
	local s=$1
	shift
	timeout 10 redis-cli -u "$REDIS_URL" --raw --eval "$LUA/$s.lua" "$@" 2>&1
}
r() { fs_redis "$@"; }
# L NODE SALE WANT: lease.lua for NODE on SALE; its reply on one line
# ({taken, empty, lease, returned, pool missing}).
L() {
	ev lease "fs:{$2}:pool" "fs:{$2}:lease:$1" "fs:{$2}:sale" "fs:{$2}:returned" "fs:{$2}:lessees" \
		"fs:{$2}:node_sold" , "$3" "$1" | tr '\n' ' '
}
S=$(((RANDOM << 15 | RANDOM) % 1000000000 + 3000000000))

# Every script compiles (SCRIPT LOAD compiles without running it).
bad=
for f in "$LUA"/*.lua; do
	out=$(timeout 10 redis-cli -u "$REDIS_URL" --raw SCRIPT LOAD "$(cat "$f")" 2>&1)
	[[ "$out" =~ ^[0-9a-f]{40}$ ]] || bad+="$(basename "$f"): $out; "
done
[ -z "$bad" ]
ft_ok $? "every controlplane/lua/*.lua compiles in Redis's Lua" "$bad"

# lease.lua: a sale of 10 units, hash and pool as create.lua makes them.
K_SALE="fs:{$S}:sale" K_POOL="fs:{$S}:pool"
ev create "$K_SALE" "$K_POOL" "fs:{$S}:sold" "fs:{$S}:remaining" "fs:{$S}:deleted" , \
	"$S" 10 1 2 open '' '' '' >/dev/null
fs_cleanup_add "redis-cli -u '$REDIS_URL' del '$K_SALE' '$K_POOL' 'fs:{$S}:sold' 'fs:{$S}:remaining' \
	'fs:{$S}:lease:1' 'fs:{$S}:lease:2' 'fs:{$S}:lessees' 'fs:{$S}:node_sold' >/dev/null"
a=$(L 1 "$S" 4) b=$(L 2 "$S" 100) c=$(L 1 "$S" 5)
[ "$a" = "4 0 4 0 0 " ] && [ "$b" = "6 0 6 0 0 " ] && [ "$c" = "0 0 4 0 0 " ] &&
	[ "$(r GET "$K_POOL")" = 0 ] && [ "$(r SMEMBERS "fs:{$S}:lessees" | sort | tr '\n' ' ')" = "1 2 " ]
ft_ok $? "lease.lua takes min(want, pool), never more: {taken, empty, lease, ...} 4 0 4 / 6 0 6 / 0 0 4, pool 0, lessees 1 2" \
	"$a / $b / $c / pool $(r GET "$K_POOL")"
r HSET "fs:{$S}:node_sold" 2 5 >/dev/null
a=$(L 1 "$S" 5)
r HSET "fs:{$S}:node_sold" 2 6 >/dev/null
b=$(L 1 "$S" 5)
[ "$a" = "0 0 4 0 0 " ] && [ "$b" = "0 1 4 0 0 " ]
ft_ok $? "lease.lua: empty (final) only once the other lessee sold its lease (node_sold 5 of 6: 0; 6: 1)" \
	"$a / $b"

d=$(L 1 "$S" -3)
[ "$d" = "0 1 4 0 0 " ] && [ "$(r GET "$K_POOL")" = 0 ] && [ "$(r GET "fs:{$S}:lease:1")" = 4 ]
ft_ok $? "lease.lua with a negative want takes nothing" "$d"

# giveback.lua: lease key down and pool up by the units, once per (node, seq).
KG=("$K_POOL" "fs:{$S}:lease:1" "$K_SALE" "fs:{$S}:given")
fs_cleanup_add "redis-cli -u '$REDIS_URL' del 'fs:{$S}:given' 'fs:{$S}:starved' >/dev/null"
a=$(ev giveback "${KG[@]}" , 1 1 3 | tr '\n' ' ') p1=$(r GET "$K_POOL")
b=$(ev giveback "${KG[@]}" , 1 1 3 | tr '\n' ' ')
c=$(ev giveback "${KG[@]}" , 1 2 9 | tr '\n' ' ')
d=$(ev giveback "$K_POOL" "fs:{$S}:lease:3" "$K_SALE" "fs:{$S}:given" , 3 1 1 | tr '\n' ' ')
[ "$a" = "1 1 " ] && [ "$p1" = 3 ] && [ "$b" = "0 1 " ] && [ "$c" = "-3 1 " ] && [ "$d" = "-2 0 " ] &&
	[ "$(r GET "$K_POOL")" = 3 ] && [ "$(r GET "fs:{$S}:lease:1")" = 1 ] &&
	[ "$(r HGET "fs:{$S}:given" 1)" = 1 ]
ft_ok $? "giveback.lua: lease 4 -> 1 and pool 0 -> 3 once (seq 1 again: {0, 1}), more than the lease refused ({-3, 1}), no lease key ({-2, 0})" \
	"$a / $b / $c / $d, pool $(r GET "$K_POOL")"
# lease.lua's starved marks: node 2 wants 5 with buyers, gets 3: marked; node 1 sees 1 starved;
# node 2 again without buyers: its mark cleared.
LM() {
	ev lease "fs:{$2}:pool" "fs:{$2}:lease:$1" "fs:{$2}:sale" "fs:{$2}:returned" "fs:{$2}:lessees" \
		"fs:{$2}:node_sold" "fs:{$2}:starved" , "$3" "$1" 5000 4000 "$4" | tr '\n' ' '
}
r SET "$K_POOL" 3 >/dev/null
a=$(LM 2 "$S" 5 1) b=$(LM 1 "$S" 0 1) c=$(LM 2 "$S" 5 0) e=$(LM 1 "$S" 0 1)
[ "$a" = "3 0 9 0 0 0 " ] && [ "$b" = "0 0 1 0 0 1 " ] && [ "$c" = "0 0 9 0 0 0 " ] &&
	[ "$e" = "0 0 1 0 0 0 " ]
ft_ok $? "lease.lua: a node with buyers that got fewer units than it wanted is starved for the others ({..., 1}); without buyers its mark goes" \
	"$a / $b / $c / $e"
r DEL "fs:{$S}:lease:1" "fs:{$S}:lease:2" "fs:{$S}:given" "fs:{$S}:starved" "fs:{$S}:lessees" >/dev/null
r SET "$K_POOL" 0 >/dev/null

# Many leases at once from 4 nodes on a pool of 1000: never below zero, stock conserved.
r SET "$K_POOL" 1000 >/dev/null
r DEL "fs:{$S}:lease:1" "fs:{$S}:lease:2" >/dev/null
for n in 1 2 3 4; do
	fs_cleanup_add "redis-cli -u '$REDIS_URL' del 'fs:{$S}:lease:$n' >/dev/null"
	(for i in $(seq 40); do
		L "$n" "$S" $(((i * 7 + n * 3) % 40)) | cut -d' ' -f1
	done >"$TMP/taken.$n") &
done
wait
pool=$(r GET "$K_POOL")
sum=0
for n in 1 2 3 4; do sum=$((sum + $(r GET "fs:{$S}:lease:$n"))); done
taken=$(cat "$TMP"/taken.* | awk '{ s += $1 } END { print s }')
[ "$pool" -ge 0 ] && [ $((pool + sum)) -eq 1000 ] && [ "$taken" -eq "$sum" ]
ft_ok $? "160 concurrent leases: pool $pool >= 0, pool + leases ($sum) = 1000, taken = leases" \
	"pool=$pool leases=$sum taken=$taken"
neg=$(cat "$TMP"/taken.* | grep -c -- '^-' || true)
[ "$neg" -eq 0 ] && [ "$pool" -eq 0 ]
ft_ok $? "the pool ran dry and no lease took a negative amount" "pool=$pool negative=$neg"

# A sale whose hash is gone leases nothing.
r DEL "$K_SALE" >/dev/null
r SET "$K_POOL" 5 >/dev/null
e=$(L 1 "$S" 5)
r HSET "$K_SALE" stock 1000 >/dev/null
r DEL "$K_POOL" >/dev/null
f=$(L 1 "$S" 5)
[ "$e" = "-1 0 0 " ] && [ "$f" = "0 0 $(r GET "fs:{$S}:lease:1") 0 1 " ] && [ -z "$(r GET "$K_POOL")" ]
ft_ok $? "lease.lua leases nothing once the sale hash is gone ({-1, 0, 0}), nor from a missing pool (not empty, pool missing 1)" \
	"$e / $f"

# totals.lua: a node's sold count only goes up (issue 9: two daemons of one node made sold go
# down 26694 -> 26693); sold and remaining are rewritten from node_sold.
TS=$((S + 1))
KT=("fs:{$TS}:node_sold" "fs:{$TS}:sold" "fs:{$TS}:remaining" "fs:{$TS}:sale" "fs:{$TS}:pool")
fs_cleanup_add "redis-cli -u '$REDIS_URL' del ${KT[*]} 'fs:{$TS}:deleted' 'fs:{$TS}:lease:1' >/dev/null"
r HSET "fs:{$TS}:sale" stock 30000 end_ms 1 >/dev/null
a=$(ev totals "${KT[@]}" , 1 26694 0 | head -n 1)
b=$(ev totals "${KT[@]}" , 1 26693 0 | head -n 1)
[ "$a" = 26694 ] && [ "$b" = 26694 ] && [ "$(r GET "fs:{$TS}:sold")" = 26694 ] &&
	[ "$(r GET "fs:{$TS}:remaining")" = 3306 ] && [ "$(r HGET "fs:{$TS}:node_sold" 1)" = 26694 ]
ft_ok $? "totals.lua keeps each node's maximum: 26694 then 26693 leaves sold 26694" \
	"replies $a, $b; sold $(r GET "fs:{$TS}:sold") node_sold[1] $(r HGET "fs:{$TS}:node_sold" 1)"
r DEL "fs:{$TS}:sold" "fs:{$TS}:remaining" "fs:{$TS}:pool" >/dev/null
ev totals "${KT[@]}" , 1 26694 1 >/dev/null
[ "$(r GET "fs:{$TS}:sold")" = 26694 ] && [ "$(r GET "fs:{$TS}:remaining")" = 3306 ] &&
	[ -z "$(r GET "fs:{$TS}:pool")" ]
ft_ok $? "totals.lua rewrites evicted sold and remaining, never the pool (restock.lua writes it)" \
	"sold $(r GET "fs:{$TS}:sold") remaining $(r GET "fs:{$TS}:remaining") pool $(r GET "fs:{$TS}:pool")"

# state.lua: forward only, never over an operator's stop.
seq_=""
for st in active created sold_out active ended sold_out; do
	seq_+="$(ev state "fs:{$TS}:sale" , $st 2>&1)$(r HGET "fs:{$TS}:sale" state) "
done
[ "$seq_" = "1active 0active 1sold_out 0sold_out 1ended 0ended " ]
ft_ok $? "state.lua moves created -> active -> sold_out -> ended and never back" "$seq_"
r HSET "fs:{$TS}:sale" state stopped >/dev/null
x=$(ev state "fs:{$TS}:sale" , ended)
[ "$x" = 0 ] && [ "$(r HGET "fs:{$TS}:sale" state)" = stopped ]
ft_ok $? "state.lua never overwrites an operator's stopped" "$x $(r HGET "fs:{$TS}:sale" state)"

# delete.lua and create.lua: a sale not over is kept; an ended one leaves only its tombstone,
# and its id cannot be created again.
D=$((S + 2))
KD=("fs:{$D}:sale" "fs:{$D}:deleted" "fs:{$D}:sold" "fs:{$D}:pool" "fs:{$D}:remaining"
	"fs:{$D}:node_sold" "fs:{$D}:lease:1")
fs_cleanup_add "redis-cli -u '$REDIS_URL' del ${KD[*]} >/dev/null"
now=$(date +%s%3N)
ev create "fs:{$D}:sale" "fs:{$D}:pool" "fs:{$D}:sold" "fs:{$D}:remaining" "fs:{$D}:deleted" , \
	"$D" 10 "$now" $((now + 60000)) open '' '' '' >/dev/null
r SET "fs:{$D}:lease:1" 10 >/dev/null
a=$(ev delete "${KD[@]}" , "$D" "$now" | tr '\n' ' ')
[ "$a" = "-2 0 " ] && [ -n "$(r HGET "fs:{$D}:sale" stock)" ]
ft_ok $? "delete.lua refuses an open sale and changes nothing" "$a"
b=$(ev delete "${KD[@]}" , "$D" $((now + 60000)) | tr '\n' ' ')
left=$(redis-cli -u "$REDIS_URL" --scan --pattern "fs:{$D}:*" | sort | tr '\n' ' ')
c=$(ev create "fs:{$D}:sale" "fs:{$D}:pool" "fs:{$D}:sold" "fs:{$D}:remaining" \
	"fs:{$D}:deleted" , "$D" 10 "$now" $((now + 60000)) open '' '' '')
[ "$b" = "1 $((now + 60000)) " ] && [ "$left" = "fs:{$D}:deleted " ] &&
	[ "$c" = -1 ] && [ -z "$(r HGET "fs:{$D}:sale" stock)" ]
ft_ok $? "delete.lua of an ended sale leaves only fs:{N}:deleted; create.lua then refuses the id" \
	"delete: $b; keys left: $left; create: $c"
# --- holds (issue 11): a sale of 10 units with hold_ms, every unit leased to node 1 ---------------
HS=$((S + 3))
KH=("fs:{$HS}:pool" "fs:{$HS}:returned" "fs:{$HS}:sale")
fs_cleanup_add "redis-cli -u '$REDIS_URL' del ${KH[*]} 'fs:{$HS}:sold' 'fs:{$HS}:remaining' \
	'fs:{$HS}:lease:1' 'fs:{$HS}:lease:2' 'fs:{$HS}:node_sold' 'fs:{$HS}:deleted' \
	'fs:{$HS}:lessees' 'fs:{$HS}:lease:5' 'fs:{$HS}:lease:7' >/dev/null"
ev create "fs:{$HS}:sale" "fs:{$HS}:pool" "fs:{$HS}:sold" "fs:{$HS}:remaining" \
	"fs:{$HS}:deleted" , "$HS" 10 1 2 open '' '' '' 600000 >/dev/null
a=$(L 1 "$HS" 10)
[ "$(r HGET "fs:{$HS}:sale" hold_ms)" = 600000 ] && [ -z "$(r HGET "fs:{$S}:sale" hold_ms)" ] &&
	[ "$a" = "10 1 10 0 0 " ]
ft_ok $? "create.lua stores hold_ms (a sale without: none); lease.lua with the returned set: {10, 1, 10, 0, 0}" \
	"hold_ms $(r HGET "fs:{$HS}:sale" hold_ms); lease $a"

# return.lua: each order's unit back once, whatever runs it again.
a=$(ev return "${KH[@]}" , 18446744073709551615)
b=$(ev return "${KH[@]}" , 18446744073709551615)
c=$(ev return "${KH[@]}" , 7 18446744073709551615 8 7)
m=$(r SMEMBERS "fs:{$HS}:returned" | sort | tr '\n' ' ')
[ "$a" = 1 ] && [ "$b" = 0 ] && [ "$c" = 2 ] && [ "$(r GET "fs:{$HS}:pool")" = 3 ] &&
	[ "$m" = "18446744073709551615 7 8 " ]
ft_ok $? "return.lua: 1, then 0 for the same order, then 2 of 4 ids (one new twice): pool 3, 3 members" \
	"replies $a $b $c; pool $(r GET "fs:{$HS}:pool"); members $m"
a=$(L 1 "$HS" 10)
[ "$a" = "3 1 13 3 0 " ]
ft_ok $? "lease.lua leases the returned units after a final lease: {3, 1, 13, 3, 0} (pool + leases = stock + returned)" "$a"

# a missing pool or hash: return.lua changes nothing (the daemon rebuilds first).
r DEL "fs:{$HS}:pool" >/dev/null
a=$(ev return "${KH[@]}" , 9)
r SET "fs:{$HS}:pool" 0 >/dev/null
r RENAME "fs:{$HS}:sale" "fs:{$HS}:sale.x" >/dev/null
b=$(ev return "${KH[@]}" , 9)
r RENAME "fs:{$HS}:sale.x" "fs:{$HS}:sale" >/dev/null
[ "$a" = -1 ] && [ "$b" = -1 ] && [ "$(r SCARD "fs:{$HS}:returned")" = 3 ] &&
	[ "$(r GET "fs:{$HS}:pool")" = 0 ]
ft_ok $? "return.lua without the pool or the sale hash: -1, nothing changed" "$a $b"

# restock.lua: a missing pool = stock + returned - every lease, even below 0; an existing one kept.
r SET "fs:{$HS}:lease:2" 2 >/dev/null
r DEL "fs:{$HS}:pool" >/dev/null
a=$(ev restock "${KH[2]}" "${KH[0]}" "${KH[1]}" "fs:{$HS}:lessees" "fs:{$HS}:lease:1" "fs:{$HS}:lease:2" | tr '\n' ' ')
p1=$(r GET "fs:{$HS}:pool")
b=$(ev restock "${KH[2]}" "${KH[0]}" "${KH[1]}" "fs:{$HS}:lessees" "fs:{$HS}:lease:1" "fs:{$HS}:lease:2" | tr '\n' ' ')
r DEL "fs:{$HS}:pool" "fs:{$HS}:returned" >/dev/null
c=$(ev restock "${KH[2]}" "${KH[0]}" "${KH[1]}" "fs:{$HS}:lessees" "fs:{$HS}:lease:1" "fs:{$HS}:lease:2" | tr '\n' ' ')
p2=$(r GET "fs:{$HS}:pool")
d=$(ev return "${KH[@]}" , 7 8 18446744073709551615)
p3=$(r GET "fs:{$HS}:pool")
[ "$a" = "1 1 3 0 " ] && [ "$p1" = -2 ] && [ "$b" = "0 1 3 0 " ] && [ "$c" = "1 1 0 0 " ] &&
	[ "$p2" = -5 ] && [ "$d" = 3 ] && [ "$p3" = -2 ]
ft_ok $? "restock.lua: pool 10 + 3 - 15 = -2, kept when it exists; lost with its set: -5, and the 3 returns given again: -2" \
	"restock $a pool $p1; again $b; set lost $c pool $p2; returns $d pool $p3"
r SET "fs:{$HS}:pool" 1 >/dev/null
a=$(ev restock "${KH[2]}" "${KH[0]}" "${KH[1]}" "fs:{$HS}:lessees" "fs:{$HS}:lease:1" "fs:{$HS}:lease:2" | tr '\n' ' ')
[ "$a" = "0 0 3 0 " ] && [ "$(r GET "fs:{$HS}:pool")" = 1 ]
ft_ok $? "restock.lua reports keys that disagree (pool + leases != stock + returned) and changes nothing" "$a"
# a lessee without its lease key (a node that has not reported since Redis lost the sale): the
# missing pool waits for it
r DEL "fs:{$HS}:pool" >/dev/null
r SADD "fs:{$HS}:lessees" 5 >/dev/null
a=$(ev restock "${KH[2]}" "${KH[0]}" "${KH[1]}" "fs:{$HS}:lessees" "fs:{$HS}:lease:1" \
	"fs:{$HS}:lease:2" | tr '\n' ' ')
p1=$(r GET "fs:{$HS}:pool")
r SET "fs:{$HS}:lease:5" 0 >/dev/null
b=$(ev restock "${KH[2]}" "${KH[0]}" "${KH[1]}" "fs:{$HS}:lessees" "fs:{$HS}:lease:1" \
	"fs:{$HS}:lease:2" | tr '\n' ' ')
[ "$a" = "0 0 3 1 " ] && [ -z "$p1" ] && [ "$b" = "1 1 3 0 " ] && [ "$(r GET "fs:{$HS}:pool")" = -2 ]
ft_ok $? "restock.lua writes no pool while a lessee (5) has no lease key (pending 1); once it has: 10 + 3 - 15 = -2" \
	"$a pool '$p1' / $b pool $(r GET "fs:{$HS}:pool")"

# totals.lua: remaining = stock + returned - sold; never a pool of 0 on a sale with holds.
KT2=("fs:{$HS}:node_sold" "fs:{$HS}:sold" "fs:{$HS}:remaining" "fs:{$HS}:sale" "fs:{$HS}:pool" "fs:{$HS}:returned")
r DEL "fs:{$HS}:pool" >/dev/null
a=$(ev totals "${KT2[@]}" , 1 12 1 | tr '\n' ' ')
[ "$a" = "12 0 " ] && [ "$(r GET "fs:{$HS}:remaining")" = 1 ] && [ -z "$(r GET "fs:{$HS}:pool")" ]
ft_ok $? "totals.lua on a sale with holds: remaining 10 + 3 - 12 = 1, the missing pool left to restock" \
	"$a remaining $(r GET "fs:{$HS}:remaining") pool $(r GET "fs:{$HS}:pool")"

# rebuild.lua of a sale with holds whose keys are gone but the set: hold_ms, this node's lease,
# the lessees from PostgreSQL (7, then 7 forgotten with sold 2); the pool waits for node 7, then
# restock.lua writes stock + returned - the leases (not clamped).
r DEL "fs:{$HS}:sale" "fs:{$HS}:lease:1" "fs:{$HS}:lease:2" "fs:{$HS}:node_sold" >/dev/null
KR=("fs:{$HS}:sale" "fs:{$HS}:pool" "fs:{$HS}:lease:1" "fs:{$HS}:node_sold" "fs:{$HS}:sold"
	"fs:{$HS}:remaining" "fs:{$HS}:deleted" "fs:{$HS}:returned" "fs:{$HS}:lessees")
AR=("$HS" 10 1 2 open ended 0 '' 1 14 1 12 '' '' 600000)
RS=("${KH[2]}" "${KH[0]}" "${KH[1]}" "fs:{$HS}:lessees" "fs:{$HS}:lease:1")
a=$(ev rebuild "${KR[@]}" , "${AR[@]}" 7)
b=$(ev restock "${RS[@]}" | tr '\n' ' ')
p1=$(r GET "fs:{$HS}:pool")
c=$(ev rebuild "${KR[@]}" , "${AR[@]}" 7=2)
d=$(ev restock "${RS[@]}" | tr '\n' ' ')
[ "$a" = 9 ] && [ "$(r HGET "fs:{$HS}:sale" hold_ms)" = 600000 ] && [ "$b" = "0 0 3 1 " ] &&
	[ -z "$p1" ] && [ "$c" = 0 ] && [ "$(r GET "fs:{$HS}:lease:7")" = 2 ] && [ "$d" = "1 1 3 0 " ] &&
	[ "$(r GET "fs:{$HS}:pool")" = -3 ] && [ "$(r GET "fs:{$HS}:lease:1")" = 14 ] &&
	[ "$(r GET "fs:{$HS}:remaining")" = 1 ]
ft_ok $? "rebuild.lua of a sale with holds: hold_ms kept, lease 14, no pool while lessee 7 has not reported; 7 forgotten (sold 2): pool 10 + 3 - 14 - 0 - 2 = -3, remaining 10 + 3 - 12" \
	"mask $a, restock $b pool '$p1'; mask $c, restock $d pool $(r GET "fs:{$HS}:pool") remaining $(r GET "fs:{$HS}:remaining")"
exit $((FAILS > 0))
