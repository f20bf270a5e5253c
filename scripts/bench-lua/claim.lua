-- The seed design's claim as one Redis Lua script (the baseline scripts/bench.sh measures).
-- KEYS[1] units left, KEYS[2] winners (set), KEYS[3] orders (list, the order queue),
-- KEYS[4] order id counter; ARGV[1] user id. Returns WON (order id), ALREADY_WON or SOLD_OUT,
-- in the dataplane's order: sold-out flag first, then the winner check, then the unit.
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
if left <= 0 then
	if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
		return 'ALREADY_WON'
	end
	return 'SOLD_OUT'
end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then
	return 'ALREADY_WON'
end
redis.call('DECR', KEYS[1])
local order = redis.call('INCR', KEYS[4])
redis.call('RPUSH', KEYS[3], order .. ' ' .. ARGV[1])
return order
