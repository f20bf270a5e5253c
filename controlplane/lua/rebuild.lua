-- Rebuild a sale's keys from the dataplane after Redis lost them (flush, restart without
-- persistence): fs_redis_sale_rebuild in controlplane/redis.c. Atomic; touches only what is
-- missing, so a second daemon racing it is harmless.
-- KEYS: sale hash, pool, this node's lease, node_sold hash, sold, remaining,
--       tombstone (fs:{N}:deleted)[, the returned set (fs:{N}:returned)]: all of the tag {N}, one
--       cluster slot. The caller adds N to fs:sales (a key of another slot) afterwards.
-- ARGV: id, stock, start_ms, end_ms, admission, state, events_published, key hex or "", node,
--       leased (the dataplane's), final (0/1), sold (the dataplane's), rate limit or "",
--       rate burst[, hold_ms or "" (no holds)].
-- The pool, when missing: on a sale without holds 0 if this node's lease is final (it was empty
-- when that lease was given), else stock - lease; on a sale with holds stock + returned - lease
-- (returned: members of the returned set; the units it lost are given again by the daemon
-- through return.lua, so it may be below 0 until then); else clamped at 0. The lease, when missing: the dataplane's, taken from the
-- pool. node_sold only ever goes up; sold and remaining (stock + returned - sold) follow.
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
local back = 0
if KEYS[8] then back = redis.call('SCARD', KEYS[8]) end
local lease_missing = redis.call('EXISTS', KEYS[3]) == 0
local pool = nil
if redis.call('EXISTS', KEYS[2]) == 0 then
  if holds then
    pool = stock + back - leased
  elseif ARGV[11] == '1' then
    pool = 0
  else
    pool = stock - leased
  end
elseif lease_missing then
  pool = tonumber(redis.call('GET', KEYS[2])) - leased
end
if pool ~= nil then
  if pool < 0 and not holds then pool = 0 end
  redis.call('SET', KEYS[2], string.format('%d', pool))
  done = done + 4
end
if lease_missing then
  redis.call('SET', KEYS[3], ARGV[10])
  done = done + 8
end
local cur = tonumber(redis.call('HGET', KEYS[4], ARGV[9]) or '-1')
if cur < tonumber(ARGV[12]) then redis.call('HSET', KEYS[4], ARGV[9], ARGV[12]) end
local s = 0
for _, v in ipairs(redis.call('HVALS', KEYS[4])) do s = s + tonumber(v) end
redis.call('SET', KEYS[5], string.format('%d', s))
redis.call('SET', KEYS[6], string.format('%d', stock + back - s))
return done
