-- Units a node gave back from its dataplane go to the pool: fs_redis_giveback in
-- controlplane/redis.c (flashctl daemon, after /flashsale/sale/giveback, and again for the
-- dataplane's last give-back whenever the daemon does not know it applied: a lost reply, a
-- restart).
-- KEYS: pool, the node's lease key, sale hash, the given hash (fs:{N}:given: NODE -> the seq of
--       the node's last give-back applied here): all of the tag {N}, one cluster slot.
-- ARGV: node, seq (the dataplane's give-back seq: 1, 2, ...), units.
-- Once per (node, seq): a seq at or below the node's field changes nothing (a second run after
-- a lost reply adds nothing twice). Else lease - units and pool + units together (pool + the
-- leases is unchanged: stock conserved at every instant); a missing pool (Redis lost it) is left
-- missing: restock.lua writes it from the leases, which then count the give-back.
-- Returns {1 applied now | 0 applied before | -1 no sale hash | -2 no lease key (Redis lost it:
-- the daemon's rebuild.lua writes it from the dataplane's total, net of give-backs, with the
-- seq) | -3 the lease key holds fewer units (nothing changed), the lease key after}.
if redis.call('EXISTS', KEYS[3]) == 0 then return {-1, 0} end
local seq = tonumber(ARGV[2])
local units = tonumber(ARGV[3])
local l = redis.call('GET', KEYS[2])
if tonumber(redis.call('HGET', KEYS[4], ARGV[1]) or '0') >= seq then
  return {0, tonumber(l or '0')}
end
if not l then return {-2, 0} end
local lease = tonumber(l)
if lease < units then return {-3, lease} end
lease = redis.call('DECRBY', KEYS[2], units)
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBY', KEYS[1], units) end
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
return {1, lease}
