-- Rotate a token sale's key (flashctl sale rekey): fs_redis_sale_rekey in controlplane/redis.c.
-- KEYS: sale hash. ARGV: new key hex, prev_key_until_ms.
-- Returns 0 if there is no such sale, -1 if it is not a token sale, 1 once rotated.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], 'admission') ~= 'token' then return -1 end
local old = redis.call('HGET', KEYS[1], 'token_key')
if old then
  redis.call('HSET', KEYS[1], 'prev_token_key', old, 'prev_key_until_ms', ARGV[2])
end
redis.call('HSET', KEYS[1], 'token_key', ARGV[1])
return 1
