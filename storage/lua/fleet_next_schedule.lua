-- fleet_next_schedule.lua: when an organization next has scheduled work, from
-- its own keys (its slot). KEYS[1] due zset, KEYS[2] claimed zset, KEYS[3]
-- digest hash. Returns {due head ms or -1, ms until the first claim's lease
-- ends or -1, 1 when the digest was never planned else 0}.
--
-- The claims' leases run on Redis's clock (claim.lua), the due scores on the
-- app's: the first is returned relative, so the caller adds its own now.
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local due = -1
if head[2] then due = tonumber(head[2]) end
local claim = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local left = -1
if claim[2] then
  local t = redis.call('TIME')
  local clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  left = math.max(0, tonumber(claim[2]) - clock)
end
local unplanned = 0
if redis.call('HEXISTS', KEYS[3], 'sched') == 0 then unplanned = 1 end
return {due, left, unplanned}
