-- fleet_settle.lua: the holder of an organization's lease is done with it for
-- now and says when it next has work. Runs in the directory's slot.
-- KEYS[1] index zset, KEYS[2] lease hash, KEYS[3] rung hash
-- ARGV[1] org, ARGV[2] the lease's token, ARGV[3] next (ms; '' nothing left)
-- Returns 1, or 0 when the lease is no longer this one (it ran out and
-- another replica took the organization: that one settles it).
--
-- next was read before this call; work rung since the lease began may not be
-- in it, so the earliest ring counts too. That closes "the worker reads
-- nothing, a commit adds work, the worker removes the organization".
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
local r = redis.call('HGET', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
local n = tonumber(ARGV[3])
if r and (not n or tonumber(r) < n) then n = tonumber(r) end
if n then
  redis.call('ZADD', KEYS[1], n, ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return 1
