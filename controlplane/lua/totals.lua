-- Publish one node's sold count and the cluster totals: fs_redis_publish_totals in
-- controlplane/redis.c.
-- KEYS: node_sold hash, sold, remaining, sale hash, pool[, the returned set].
-- ARGV: node, sold, final (0/1).
-- node_sold[node] only ever goes up (a count read earlier, by a second daemon of the node, does
-- not lower it); sold = the sum over nodes and remaining = stock + returned - sold (returned:
-- members of the returned set, units that came back; 0 on a sale without holds) are always
-- rewritten, so keys evicted one at a time come back. A missing pool is never written here
-- (final is unused): restock.lua rewrites it once every node that held a lease reported it.
-- Returns {cluster-wide sold, 0}, or {-1, 0} (nothing written)
-- when the sale hash is gone: a total without its stock would publish a wrong remaining.
if redis.call('EXISTS', KEYS[4]) == 0 then return {-1, 0} end
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if cur < tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
local s = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do s = s + tonumber(v) end
local stock = tonumber(redis.call('HGET', KEYS[4], 'stock') or '0')
redis.call('SET', KEYS[2], string.format('%d', s))
local back = 0
if KEYS[6] then back = redis.call('SCARD', KEYS[6]) end
redis.call('SET', KEYS[3], string.format('%d', stock + back - s))
return {s, 0}
