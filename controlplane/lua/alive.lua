-- A daemon's hold of its node id: fs_nodes_alive in controlplane/nodes.c.
-- KEYS: fs:node:{NODE}:alive, fs:node:{NODE}:forgotten (one tag: one slot). ARGV: the daemon's
-- instance token, TTL ms, 'claim' or 'release'.
-- claim: take the key (absent) or refresh it (ours) with the TTL; returns {1, ttl}, or {0, pttl}
-- when another instance holds it (nothing changed), or {-1, 0} when the node was forgotten
-- (flashctl node forget: its daemons are refused for good). release: delete it if ours; returns
-- {1, 0} or {0, pttl}.
if ARGV[3] ~= 'release' and redis.call('EXISTS', KEYS[2]) == 1 then return {-1, 0} end
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return {0, redis.call('PTTL', KEYS[1])} end
if ARGV[3] == 'release' then
  if cur then redis.call('DEL', KEYS[1]) end
  return {1, 0}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, tonumber(ARGV[2])}
