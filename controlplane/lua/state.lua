-- Move a sale's state forward: fs_redis_sale_set_state in controlplane/redis.c.
-- KEYS: sale hash. ARGV: the new state: created, active, sold_out or ended.
-- States only move forward (created -> active -> sold_out -> ended), so two daemons whose clocks
-- differ a little do not make it flap; "stopped" (the operator's) is never overwritten, and an
-- unknown current value (an older version's) is replaced.
-- Returns 1 if written, 0 if not (already there or further, stopped, or no such sale).
local rank = {created = 1, active = 2, sold_out = 3, ended = 4}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local cur = redis.call('HGET', KEYS[1], 'state')
if cur == 'stopped' then return 0 end
local want = rank[ARGV[1]]
if want == nil then return redis.error_reply('unknown state ' .. ARGV[1]) end
if cur and rank[cur] and rank[cur] >= want then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1])
return 1
