-- Stop a sale (flashctl sale stop): fs_redis_sale_stop in controlplane/redis.c.
-- KEYS: sale hash. Returns 0 if there is no such sale, 1 once state is "stopped".
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'state', 'stopped')
return 1
