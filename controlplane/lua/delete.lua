-- Delete a sale that is over (flashctl sale delete): fs_redis_sale_delete in controlplane/redis.c.
-- KEYS: sale hash, tombstone (fs:{N}:deleted), sold, then every other key of the sale
--       (pool, remaining, node_sold, each node's lease, ...): all of the tag {N}, one cluster slot.
-- ARGV: sale id, now (unix ms).
-- The sale is over when its state is ended, stopped or sold_out, or now >= end_ms, or
-- sold >= stock. Then every key is removed and the tombstone holds now (the caller then removes
-- the id from fs:sales, a key of another slot):
-- daemons delete the sale from their dataplanes, and the id is never used again.
-- Returns {1, now} once deleted, {0, ms} if it had been deleted at ms (any key of it found again
-- is removed), {-1, 0} if there is no such sale, {-2, 0} if it is not over (nothing changed).
local function remove()
  for i = 3, #KEYS do redis.call('DEL', KEYS[i]) end
  redis.call('DEL', KEYS[1])
end
local t = redis.call('GET', KEYS[2])
if t then
  remove()
  return {0, tonumber(t)}
end
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0} end
local h = redis.call('HMGET', KEYS[1], 'state', 'end_ms', 'stock')
local now = tonumber(ARGV[2])
local sold = tonumber(redis.call('GET', KEYS[3]) or '0')
local over = h[1] == 'ended' or h[1] == 'stopped' or h[1] == 'sold_out' or
  now >= tonumber(h[2] or '0') or sold >= tonumber(h[3] or '0')
if not over then return {-2, 0} end
remove()
redis.call('SET', KEYS[2], ARGV[2])
return {1, now}
