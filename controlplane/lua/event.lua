-- Publish a sale's event once: fs_redis_publish_event in controlplane/redis.c.
-- KEYS: sale hash, events channel. ARGV: bit, event name.
-- Returns {published_now (0/1), mask after}.
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
local m = tonumber(redis.call('HGET', KEYS[1], 'events_published') or '0')
local b = tonumber(ARGV[1])
if bit.band(m, b) ~= 0 then return {0, m} end
m = bit.bor(m, b)
redis.call('HSET', KEYS[1], 'events_published', m)
redis.call('PUBLISH', KEYS[2], ARGV[2])
return {1, m}
