-- Create a sale (flashctl sale create): fs_redis_sale_create in controlplane/redis.c.
-- KEYS: sale hash, pool, sold, remaining, tombstone (fs:{N}:deleted): all of the sale's hash tag
-- {N}, so one cluster slot. The caller adds N to fs:sales (a key of another slot) afterwards.
-- ARGV: sale id, stock, start_ms, end_ms, admission, token key hex or "", rate limit or "",
--       rate burst or "", hold_ms or "" (absent: no holds).
-- Returns 0 if the sale exists, -1 if it was deleted (sale ids are never reused: order ids and
-- PostgreSQL rows of the old sale must not mix with a new one; nothing changed), 1 if created.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('EXISTS', KEYS[5]) == 1 then return -1 end
redis.call('HSET', KEYS[1], 'stock', ARGV[2], 'start_ms', ARGV[3], 'end_ms', ARGV[4],
  'admission', ARGV[5], 'state', 'created', 'events_published', '0')
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'token_key', ARGV[6]) end
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[1], 'rate_limit', ARGV[7], 'rate_burst', ARGV[8])
end
if ARGV[9] and ARGV[9] ~= '' and ARGV[9] ~= '0' then
  redis.call('HSET', KEYS[1], 'hold_ms', ARGV[9])
end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[3], '0')
redis.call('SET', KEYS[4], ARGV[2])
return 1
