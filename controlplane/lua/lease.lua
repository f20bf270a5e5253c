-- Lease stock from the cluster pool to one node: fs_redis_lease in controlplane/redis.c.
-- KEYS: pool, the node's lease key, sale hash, the returned set, the lessees set
-- (fs:{N}:lessees: nodes that ever held a lease of the sale), node_sold hash.
-- ARGV: units wanted (>= 0), node.
-- Takes min(want, pool) (never below zero) and adds the node to the lessees when it takes.
-- pool_empty (the node's lease is final: the dataplane answers SOLD_OUT once it sold it) only
-- when the pool is empty and no other lessee has an unsold unit (its lease key above its
-- node_sold field): while another node holds units, this one answers RETRY.
-- Returns {taken, pool_empty, lease, returned (members of the returned set), pool_missing}; or
-- {-1, 0, 0} when the sale hash is gone (Redis flushed or restarted empty: nothing is leased
-- from a pool that no longer says what it belongs to). A missing pool (Redis lost it, and not
-- every lessee has reported its lease again: restock.lua) leases nothing and is not empty: the
-- node sells what it holds and answers RETRY, never SOLD_OUT, until the pool is rebuilt.
if redis.call('EXISTS', KEYS[3]) == 0 then return {-1, 0, 0} end
local lease = tonumber(redis.call('GET', KEYS[2]) or '0')
local back = redis.call('SCARD', KEYS[4])
local p = redis.call('GET', KEYS[1])
if not p then return {0, 0, lease, back, 1} end
local pool = tonumber(p)
local take = tonumber(ARGV[1])
if pool < take then take = pool end
if take < 0 then take = 0 end
if take > 0 then
  redis.call('DECRBY', KEYS[1], take)
  lease = redis.call('INCRBY', KEYS[2], take)
  redis.call('SADD', KEYS[5], ARGV[2])
end
local empty = 0
if pool - take <= 0 then
  empty = 1
  local prefix = string.sub(KEYS[1], 1, #KEYS[1] - 4) .. 'lease:'
  for _, n in ipairs(redis.call('SMEMBERS', KEYS[5])) do
    if n ~= ARGV[2] and tonumber(redis.call('GET', prefix .. n) or '0') >
        tonumber(redis.call('HGET', KEYS[6], n) or '0') then
      empty = 0
    end
  end
end
return {take, empty, lease, back, 0}
