-- fleet_ring.lua: an organization has work at a time (its commit or its
-- outbox just wrote it). Runs in the directory's slot.
-- KEYS[1] index zset  org -> ms it next has work
-- KEYS[2] lease hash  org -> token of the replica working it now
-- KEYS[3] rung  hash  org -> earliest ring (ms) since that lease began
-- ARGV[1] org, ARGV[2] at (ms)
--
-- An organization nobody works now gets the earlier of its score and at
-- (ZADD LT adds it when absent). One being worked keeps its lease's score,
-- so that no second replica takes it meanwhile; the ring is noted instead,
-- and the holder's Settle schedules it (fleet_settle.lua). Were the holder
-- to die, the lease's end brings the organization back anyway.
local at = tonumber(ARGV[2])
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  local r = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '')
  if not r or at < r then redis.call('HSET', KEYS[3], ARGV[1], ARGV[2]) end
  return 0
end
redis.call('ZADD', KEYS[1], 'LT', ARGV[2], ARGV[1])
return 1
