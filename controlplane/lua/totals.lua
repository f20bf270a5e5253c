-- Publish one node's sold count and the cluster totals: fs_redis_publish_totals in
-- controlplane/redis.c.
-- KEYS: node_sold hash, sold, remaining, sale hash. ARGV: node, sold.
-- Returns the cluster-wide sold count, or -1 (nothing written) when the sale hash is gone: a
-- total without its stock would publish a wrong remaining.
if redis.call('EXISTS', KEYS[4]) == 0 then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local s = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do s = s + tonumber(v) end
local stock = tonumber(redis.call('HGET', KEYS[4], 'stock') or '0')
redis.call('SET', KEYS[2], string.format('%d', s))
redis.call('SET', KEYS[3], string.format('%d', stock - s))
return s
