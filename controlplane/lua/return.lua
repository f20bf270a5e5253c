-- Return released orders' units to a sale's pool, each exactly once: fs_redis_return in
-- controlplane/redis.c (flashctl daemon, for the stock_returns rows of PostgreSQL).
-- KEYS: pool, the returned set (fs:{N}:returned), sale hash. ARGV: order ids (u64, decimal).
-- For each order id: SADD to the set, and INCR the pool only if SADD added it, so running the
-- script again for an order (a daemon that crashed before it marked the row applied) changes
-- nothing. Every unit returned keeps pool + leases = stock + members of the set.
-- Returns how many units went back now (1 or 0 for one order id: 0 = applied already), or -1
-- (nothing changed) when the sale hash or the pool is missing: Redis lost the sale or its pool,
-- which the daemon rebuilds first (rebuild.lua, restock.lua).
if redis.call('EXISTS', KEYS[3]) == 0 or redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local n = 0
for i = 1, #ARGV do
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
    redis.call('INCR', KEYS[1])
    n = n + 1
  end
end
return n
