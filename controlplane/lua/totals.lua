-- Publish one node's sold count and the cluster totals: fs_redis_publish_totals in
-- controlplane/redis.c.
-- KEYS: node_sold hash, sold, remaining, sale hash, pool. ARGV: node, sold, final (0/1).
-- node_sold[node] only ever goes up (a count read earlier, by a second daemon of the node, does
-- not lower it); sold = the sum over nodes and remaining = stock - sold are always rewritten, so
-- keys evicted one at a time come back. With final = 1 (the node's lease was given when the pool
-- was empty; a pool never grows) a missing pool is rewritten as 0.
-- Returns {cluster-wide sold, 1 if the pool was rewritten else 0}, or {-1, 0} (nothing written)
-- when the sale hash is gone: a total without its stock would publish a wrong remaining.
if redis.call('EXISTS', KEYS[4]) == 0 then return {-1, 0} end
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if cur < tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
local s = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do s = s + tonumber(v) end
local stock = tonumber(redis.call('HGET', KEYS[4], 'stock') or '0')
redis.call('SET', KEYS[2], string.format('%d', s))
redis.call('SET', KEYS[3], string.format('%d', stock - s))
local pool_set = 0
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[5]) == 0 then
  redis.call('SET', KEYS[5], '0')
  pool_set = 1
end
return {s, pool_set}
