-- Rewrite a sale's missing pool from its other keys, once every node that ever held a lease of
-- it has its lease key again, and say whether they agree: fs_redis_restock in
-- controlplane/redis.c (flashctl daemon, after Redis lost the sale or its pool, and every few
-- seconds on a sale with holds).
-- KEYS: sale hash, pool, the returned set (fs:{N}:returned), the lessees set (fs:{N}:lessees),
-- then the lease keys the caller found (SCAN) and its own.
-- ARGV: none.
-- A pool that exists is left alone. A missing one is written only when every member of the
-- lessees set has its lease key fs:{N}:lease:NODE (each node's daemon writes its own from its
-- dataplane's journaled total, rebuild.lua; a forgotten node's is its final sold count): else it
-- stays missing (pending; nothing is leased from a missing pool). Then pool = stock + members
-- of the set - the sum of the leases (the lessees' and any other lease key passed), even below
-- 0 on a sale with holds (the returns the set lost with Redis are given again by the daemon,
-- through return.lua, once this pool exists: each adds its unit), else at least 0.
-- The lessees' lease keys are named from the pool key (same hash tag {N}, same slot).
-- Returns {written (1 now, 0 not: the pool existed or a lessee has not reported, -1 no such
-- sale), consistent (1 when pool + leases = stock + returned holds after the call, else 0),
-- returned (members of the set), pending (lessees without a lease key)}.
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0, 0, 0} end
local stock = tonumber(redis.call('HGET', KEYS[1], 'stock') or '0')
local holds = tonumber(redis.call('HGET', KEYS[1], 'hold_ms') or '0') > 0
local back = redis.call('SCARD', KEYS[3])
local prefix = string.sub(KEYS[2], 1, #KEYS[2] - 4) .. 'lease:'
local seen, leases, pending = {}, 0, 0
for _, n in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  local k = prefix .. n
  seen[k] = true
  local v = redis.call('GET', k)
  if v then leases = leases + tonumber(v) else pending = pending + 1 end
end
for i = 5, #KEYS do
  if not seen[KEYS[i]] then
    seen[KEYS[i]] = true
    leases = leases + tonumber(redis.call('GET', KEYS[i]) or '0')
  end
end
local written = 0
if redis.call('EXISTS', KEYS[2]) == 0 then
  if pending > 0 then return {0, 0, back, pending} end
  local pool = stock + back - leases
  if pool < 0 and not holds then pool = 0 end
  redis.call('SET', KEYS[2], string.format('%d', pool))
  written = 1
end
local pool = tonumber(redis.call('GET', KEYS[2]))
local consistent = 0
if pool + leases == stock + back then consistent = 1 end
return {written, consistent, back, pending}
