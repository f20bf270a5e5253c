-- Rebuild a sale's keys from the dataplane after Redis lost them (flush, restart without
-- persistence): fs_redis_sale_rebuild in controlplane/redis.c. Atomic; touches only what is
-- missing, so a second daemon racing it is harmless.
-- KEYS: sale hash, pool, this node's lease, node_sold hash, sold, remaining,
--       tombstone (fs:{N}:deleted), the returned set (fs:{N}:returned), the lessees set
--       (fs:{N}:lessees): all of the tag {N}, one cluster slot. The caller adds N to fs:sales (a key of another slot) afterwards.
-- ARGV: id, stock, start_ms, end_ms, admission, state, events_published, key hex or "", node,
--       leased (the dataplane's), final (0/1, unused), sold (the dataplane's), rate limit or "",
--       rate burst[, hold_ms or "" (no holds)].
-- ARGV[16...]: the other nodes that ever held a lease of the sale, as PostgreSQL knows them
--       (flashctl daemon --pg): "NODE", or "NODE=SOLD" for a forgotten node (its lease key, when
--       missing, is written as SOLD: its unsold units went back to the pool when it was forgotten);
--       and "given=SEQ", the seq of the dataplane's last give-back, with optional KEYS[10], the
--       given hash (fs:{N}:given): when this node's lease key is written from the dataplane's
--       total (net of every give-back), its field there is raised to SEQ, so giveback.lua does
--       not give those units to the pool a second time.
-- Every node named, and this one, joins the lessees set (KEYS[9]); this node's lease key, when
-- missing, is the dataplane's leased total (journaled: its leases net of units given back). A
-- missing pool is NOT written here: restock.lua writes it once every lessee has its lease key
-- again, so a pool is never rebuilt from some nodes' leases while another node still holds
-- units. A pool that exists while this node's lease key is missing (a key evicted alone) gives
-- the node's lease: pool - leased (at least 0 on a sale without holds).
-- node_sold only ever goes up; sold and remaining (stock + returned - sold) follow.
-- Returns a bit mask of what was rebuilt: 1 hash, 4 pool, 8 lease; or -1
-- (nothing written) when the sale was deleted: the daemon removes it from its dataplane instead.
if redis.call('EXISTS', KEYS[7]) == 1 then return -1 end
local done = 0
local stock = tonumber(ARGV[2])
local leased = tonumber(ARGV[10])
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'stock', ARGV[2], 'start_ms', ARGV[3], 'end_ms', ARGV[4],
    'admission', ARGV[5], 'state', ARGV[6], 'events_published', ARGV[7])
  if ARGV[8] ~= '' then redis.call('HSET', KEYS[1], 'token_key', ARGV[8]) end
  if ARGV[13] ~= '' then
    redis.call('HSET', KEYS[1], 'rate_limit', ARGV[13], 'rate_burst', ARGV[14])
  end
  if ARGV[15] and ARGV[15] ~= '' and ARGV[15] ~= '0' then
    redis.call('HSET', KEYS[1], 'hold_ms', ARGV[15])
  end
  done = done + 1
else
  stock = tonumber(redis.call('HGET', KEYS[1], 'stock') or ARGV[2])
end
local holds = tonumber(redis.call('HGET', KEYS[1], 'hold_ms') or '0') > 0
local back = redis.call('SCARD', KEYS[8])
local prefix = string.sub(KEYS[2], 1, #KEYS[2] - 4) .. 'lease:'
redis.call('SADD', KEYS[9], ARGV[9])
local given = nil
for i = 16, #ARGV do
  local n, sold = string.match(ARGV[i], '^(%d+)=(%d+)$')
  local g = string.match(ARGV[i], '^given=(%d+)$')
  if g then
    given = tonumber(g)
  elseif n then
    redis.call('SADD', KEYS[9], n)
    if redis.call('EXISTS', prefix .. n) == 0 then redis.call('SET', prefix .. n, sold) end
  else
    redis.call('SADD', KEYS[9], ARGV[i])
  end
end
if redis.call('EXISTS', KEYS[3]) == 0 then
  local p = redis.call('GET', KEYS[2])
  if p then
    local pool = tonumber(p) - leased
    if pool < 0 and not holds then pool = 0 end
    redis.call('SET', KEYS[2], string.format('%d', pool))
    done = done + 4
  end
  redis.call('SET', KEYS[3], ARGV[10])
  done = done + 8
  if KEYS[10] and given and tonumber(redis.call('HGET', KEYS[10], ARGV[9]) or '0') < given then
    redis.call('HSET', KEYS[10], ARGV[9], string.format('%d', given))
  end
end
local cur = tonumber(redis.call('HGET', KEYS[4], ARGV[9]) or '-1')
if cur < tonumber(ARGV[12]) then redis.call('HSET', KEYS[4], ARGV[9], ARGV[12]) end
local s = 0
for _, v in ipairs(redis.call('HVALS', KEYS[4])) do s = s + tonumber(v) end
redis.call('SET', KEYS[5], string.format('%d', s))
redis.call('SET', KEYS[6], string.format('%d', stock + back - s))
return done
