-- Lease stock from the cluster pool to one node: fs_redis_lease in controlplane/redis.c.
-- KEYS: pool, the node's lease key, sale hash[, the returned set]. ARGV: units wanted (>= 0).
-- Takes min(want, pool) (never below zero). Returns {taken, pool_empty, lease}, and with the
-- returned set a 4th value: its members (units that came back to the pool); or {-1, 0, 0}
-- when the sale hash is gone (Redis flushed or restarted empty: nothing is leased from a pool
-- that no longer says what it belongs to).
if redis.call('EXISTS', KEYS[3]) == 0 then return {-1, 0, 0} end
local pool = tonumber(redis.call('GET', KEYS[1]) or '0')
local want = tonumber(ARGV[1])
local take = want
if pool < take then take = pool end
if take < 0 then take = 0 end
if take > 0 then
  redis.call('DECRBY', KEYS[1], take)
  redis.call('INCRBY', KEYS[2], take)
end
local lease = tonumber(redis.call('GET', KEYS[2]) or '0')
local empty = 0
if pool - take <= 0 then empty = 1 end
if KEYS[4] then return {take, empty, lease, redis.call('SCARD', KEYS[4])} end
return {take, empty, lease}
