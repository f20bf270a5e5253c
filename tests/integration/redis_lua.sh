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

ft_plan 6
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
ev create "$K_SALE" "$K_POOL" "fs:{$S}:sold" "fs:{$S}:remaining" "fs:sales" , \
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
	(for i in $(seq 60); do
		ev lease "$K_POOL" "fs:{$S}:lease:$n" "$K_SALE" , $(((i * 7 + n * 3) % 40)) | head -n 1
	done >"$TMP/taken.$n") &
done
wait
pool=$(r GET "$K_POOL")
sum=0
for n in 1 2 3 4; do sum=$((sum + $(r GET "fs:{$S}:lease:$n"))); done
taken=$(cat "$TMP"/taken.* | awk '{ s += $1 } END { print s }')
[ "$pool" -ge 0 ] && [ $((pool + sum)) -eq 1000 ] && [ "$taken" -eq "$sum" ]
ft_ok $? "240 concurrent leases: pool $pool >= 0, pool + leases ($sum) = 1000, taken = leases" \
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
exit $((FAILS > 0))
