-- claim.lua: a replica takes due work for itself, atomically.
-- KEYS[1] due      zset  item -> due time (ms, the app's clock)
-- KEYS[2] claimed  zset  "TOKEN|SCORE|ITEM" -> lease end (ms, Redis's clock)
-- ARGV[1] now (ms): items due at or before it are claimed
-- ARGV[2] lease (ms)
-- ARGV[3] at most this many items
-- ARGV[4] this claim's token (no '|')
-- Returns a flat list: item, due score, claim member, ...
--
-- First, claims whose lease ended (their replica crashed or hung) go back to
-- due with their old score, unless the item is already there again (a commit
-- re-planned it: ZADD NX keeps the newer time). Then up to ARGV[3] due items
-- move from due to claimed. Both steps cost O(log N) per item moved, so a
-- tick costs what is due, not what exists.
--
-- Leases run on Redis's clock (TIME), so replicas with skewed clocks (or a
-- test's fake clock) agree on when a lease ends.
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max = tonumber(ARGV[3])

local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', clock, 'LIMIT', 0, max)
for _, m in ipairs(expired) do
  local score, item = string.match(m, '^[^|]*|([^|]*)|(.*)$')
  if item then redis.call('ZADD', KEYS[1], 'NX', score, item) end
  redis.call('ZREM', KEYS[2], m)
end

local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, max)
local out = {}
local lease = clock + tonumber(ARGV[2])
for i = 1, #due, 2 do
  local item, score = due[i], due[i + 1]
  local member = ARGV[4] .. '|' .. score .. '|' .. item
  redis.call('ZREM', KEYS[1], item)
  redis.call('ZADD', KEYS[2], lease, member)
  out[#out + 1] = item
  out[#out + 1] = score
  out[#out + 1] = member
end
return out
