-- Rewrite the missing pool of a sale with holds from its other keys, and say whether they agree:
-- fs_redis_restock in controlplane/redis.c (flashctl daemon, after Redis lost the sale or its
-- pool, and every few seconds).
-- KEYS: sale hash, pool, the returned set (fs:{N}:returned), then every node's lease key.
-- ARGV: none.
-- A pool that exists is left alone. A missing one becomes stock + members of the set - the sum
-- of the leases, as the invariant pool + leases = stock + returned says, even below 0 (the
-- returns the set lost with Redis are given again by the daemon, through return.lua, once this
-- pool exists: each adds its unit, so no unit is counted twice or lost).
-- Returns {written (1 now, 0 the pool existed, -1 no such sale), consistent (1 when
-- pool + leases = stock + returned holds after the call, else 0), returned (members of the set)}.
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0, 0} end
local stock = tonumber(redis.call('HGET', KEYS[1], 'stock') or '0')
local back = redis.call('SCARD', KEYS[3])
local leases = 0
for i = 4, #KEYS do leases = leases + tonumber(redis.call('GET', KEYS[i]) or '0') end
local written = 0
if redis.call('EXISTS', KEYS[2]) == 0 then
  -- may be below 0: units the nodes hold that came back through returns this Redis lost and
  -- that the daemon gives again (return.lua); lease.lua takes nothing from such a pool
  redis.call('SET', KEYS[2], string.format('%d', stock + back - leases))
  written = 1
end
local pool = tonumber(redis.call('GET', KEYS[2]))
local consistent = 0
if pool + leases == stock + back then consistent = 1 end
return {written, consistent, back}
