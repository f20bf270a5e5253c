-- Lease stock from the cluster pool to one node: fs_redis_lease in controlplane/redis.c.
-- KEYS: pool, the node's lease key, sale hash, the returned set, the lessees set
-- (fs:{N}:lessees: nodes that ever held a lease of the sale), node_sold hash.
-- Optional KEYS[7]: the starved hash (fs:{N}:starved: NODE -> unix ms it last found the pool
-- short), with ARGV[3] now (unix ms), ARGV[4] since (unix ms: older marks do not count) and
-- ARGV[5] demand (1: the node has buyers: it sells or answered RETRY; 0: an idle node).
-- ARGV: units wanted (>= 0), node[, now, since, demand].
-- With the starved hash: a node with demand that wanted units and got fewer (the pool ran
-- short) marks itself starved (now), any other call of it clears its mark; the reply gets a 6th element, how
-- many other nodes marked themselves starved since `since` (their daemons' clocks: a mark is
-- about one tick old): nodes holding more than they need give units back (giveback.lua).
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
if not KEYS[7] then return {take, empty, lease, back, 0} end
local want = tonumber(ARGV[1])
if want > 0 and take < want and ARGV[5] == '1' then
  redis.call('HSET', KEYS[7], ARGV[2], ARGV[3])
else
  redis.call('HDEL', KEYS[7], ARGV[2])
end
local starved = 0
local marks = redis.call('HGETALL', KEYS[7])
for i = 1, #marks, 2 do
  if marks[i] ~= ARGV[2] and tonumber(marks[i + 1]) >= tonumber(ARGV[4]) then
    starved = starved + 1
  end
end
return {take, empty, lease, back, 0, starved}
