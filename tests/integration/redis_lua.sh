#!/bin/bash
# The control plane's Redis Lua scripts (controlplane/lua/*.lua), run as files with
# `redis-cli --eval` against a real Redis, TAP. No dataplane needed.
#
# Env: FS_BUILD (unused but accepted), REDIS_URL (a Redis it may write fs:* keys to; sale ids are
# random so it can share one; if unset and redis-server exists, it starts a throwaway one).
set -u
FS_LOG_TAG=redis_lua
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

LUA=$FS_ROOT/controlplane/lua
TMP=$(mktemp -d /tmp/fs-redis-lua.XXXXXX)
fs_cleanup_add "rm -rf '$TMP'"
command -v redis-cli >/dev/null || ft_skip_all "no redis-cli"
if [ -z "${REDIS_URL:-}" ] && ! command -v redis-server >/dev/null; then
	ft_skip_all "no REDIS_URL and no redis-server"
fi
fs_redis_start "$TMP"

ft_plan 12
# ev SCRIPT KEY... , ARG...: run controlplane/lua/SCRIPT.lua; its reply, one value a line.
ev() {
	local s=$1
	shift
	timeout 10 redis-cli -u "$REDIS_URL" --raw --eval "$LUA/$s.lua" "$@" 2>&1
}
r() { fs_redis "$@"; }
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
ev create "$K_SALE" "$K_POOL" "fs:{$S}:sold" "fs:{$S}:remaining" "fs:sales" "fs:{$S}:deleted" , \
	"$S" 10 1 2 open '' '' '' >/dev/null
fs_cleanup_add "redis-cli -u '$REDIS_URL' del '$K_SALE' '$K_POOL' 'fs:{$S}:sold' 'fs:{$S}:remaining' \
	'fs:{$S}:lease:1' 'fs:{$S}:lease:2' >/dev/null; redis-cli -u '$REDIS_URL' srem fs:sales $S >/dev/null"
a=$(ev lease "$K_POOL" "fs:{$S}:lease:1" "$K_SALE" , 4 | tr '\n' ' ')
b=$(ev lease "$K_POOL" "fs:{$S}:lease:2" "$K_SALE" , 100 | tr '\n' ' ')
c=$(ev lease "$K_POOL" "fs:{$S}:lease:1" "$K_SALE" , 5 | tr '\n' ' ')
[ "$a" = "4 0 4 " ] && [ "$b" = "6 1 6 " ] && [ "$c" = "0 1 4 " ] && [ "$(r GET "$K_POOL")" = 0 ]
ft_ok $? "lease.lua takes min(want, pool), never more: {taken, empty, lease} 4 0 4 / 6 1 6 / 0 1 4, pool 0" \
	"$a / $b / $c / pool $(r GET "$K_POOL")"

d=$(ev lease "$K_POOL" "fs:{$S}:lease:1" "$K_SALE" , -3 | tr '\n' ' ')
[ "$d" = "0 1 4 " ] && [ "$(r GET "$K_POOL")" = 0 ] && [ "$(r GET "fs:{$S}:lease:1")" = 4 ]
ft_ok $? "lease.lua with a negative want takes nothing" "$d"

# Many leases at once from 4 nodes on a pool of 1000: never below zero, stock conserved.
r SET "$K_POOL" 1000 >/dev/null
r DEL "fs:{$S}:lease:1" "fs:{$S}:lease:2" >/dev/null
for n in 1 2 3 4; do
	fs_cleanup_add "redis-cli -u '$REDIS_URL' del 'fs:{$S}:lease:$n' >/dev/null"
	(for i in $(seq 40); do
		ev lease "$K_POOL" "fs:{$S}:lease:$n" "$K_SALE" , $(((i * 7 + n * 3) % 40)) | head -n 1
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
e=$(ev lease "$K_POOL" "fs:{$S}:lease:1" "$K_SALE" , 5 | tr '\n' ' ')
[ "$e" = "-1 0 0 " ] && [ "$(r GET "$K_POOL")" = 5 ]
ft_ok $? "lease.lua leases nothing once the sale hash is gone ({-1, 0, 0})" "$e"

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
	[ "$(r GET "fs:{$TS}:pool")" = 0 ]
ft_ok $? "totals.lua rewrites evicted sold and remaining, and the pool (0) after the final lease" \
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
KD=("fs:{$D}:sale" "fs:sales" "fs:{$D}:deleted" "fs:{$D}:sold" "fs:{$D}:pool" "fs:{$D}:remaining"
	"fs:{$D}:node_sold" "fs:{$D}:lease:1")
fs_cleanup_add "redis-cli -u '$REDIS_URL' del ${KD[*]/fs:sales/} >/dev/null; redis-cli -u '$REDIS_URL' srem fs:sales $D >/dev/null"
now=$(date +%s%3N)
ev create "fs:{$D}:sale" "fs:{$D}:pool" "fs:{$D}:sold" "fs:{$D}:remaining" fs:sales "fs:{$D}:deleted" , \
	"$D" 10 "$now" $((now + 60000)) open '' '' '' >/dev/null
r SET "fs:{$D}:lease:1" 10 >/dev/null
a=$(ev delete "${KD[@]}" , "$D" "$now" | tr '\n' ' ')
[ "$a" = "-2 0 " ] && [ -n "$(r HGET "fs:{$D}:sale" stock)" ] && [ "$(r SISMEMBER fs:sales "$D")" = 1 ]
ft_ok $? "delete.lua refuses an open sale and changes nothing" "$a"
b=$(ev delete "${KD[@]}" , "$D" $((now + 60000)) | tr '\n' ' ')
left=$(redis-cli -u "$REDIS_URL" --scan --pattern "fs:{$D}:*" | sort | tr '\n' ' ')
c=$(ev create "fs:{$D}:sale" "fs:{$D}:pool" "fs:{$D}:sold" "fs:{$D}:remaining" fs:sales \
	"fs:{$D}:deleted" , "$D" 10 "$now" $((now + 60000)) open '' '' '')
[ "$b" = "1 $((now + 60000)) " ] && [ "$left" = "fs:{$D}:deleted " ] &&
	[ "$(r SISMEMBER fs:sales "$D")" = 0 ] && [ "$c" = -1 ] && [ -z "$(r HGET "fs:{$D}:sale" stock)" ]
ft_ok $? "delete.lua of an ended sale leaves only fs:{N}:deleted; create.lua then refuses the id" \
	"delete: $b; keys left: $left; create: $c"
exit $((FAILS > 0))
