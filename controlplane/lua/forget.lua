-- Release a node gone for good from one sale (flashctl node forget): fs_nodes_forget_sale in
-- controlplane/nodes.c.
-- KEYS: pool, the node's lease key, the forgotten set (fs:{N}:forgotten), the lessees set,
--       node_sold hash: all of the tag {N}, one cluster slot.
-- ARGV: node, its final sold count (PostgreSQL's, at least its orders rows).
-- Once per node and sale (the forgotten set remembers it): sold = max(ARGV sold, node_sold[node]);
-- the node's unsold units (lease - sold) go back to the pool when the pool exists, and its lease
-- key and node_sold field become sold (the units it sold are all it keeps, none unsold). Without a pool (Redis lost it and not
-- every lessee reported yet) only the lease key is written: restock.lua then counts sold for it.
-- Returns {1 done now | 0 done before, units back in the pool now (-1: no pool yet), sold}.
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then return {0, 0, 0} end
local sold = tonumber(ARGV[2])
local ns = tonumber(redis.call('HGET', KEYS[5], ARGV[1]) or '0')
if ns > sold then sold = ns end
local lease = redis.call('GET', KEYS[2])
local back = -1
if redis.call('EXISTS', KEYS[1]) == 1 then
  back = 0
  if lease and tonumber(lease) > sold then back = tonumber(lease) - sold end
  redis.call('INCRBY', KEYS[1], back)
end
redis.call('SET', KEYS[2], string.format('%d', sold))
redis.call('HSET', KEYS[5], ARGV[1], string.format('%d', sold))
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
return {1, back, sold}
