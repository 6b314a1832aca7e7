-- outbox_promote.lua: move jobs whose retry time has come from the delayed
-- set back into the stream, atomically (a job is in exactly one of them).
-- KEYS[1] delayed zset, KEYS[2] stream; ARGV[1] now (ms), ARGV[2] max jobs.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local j = cjson.decode(member)
  redis.call('ZREM', KEYS[1], member)
  redis.call('XADD', KEYS[2], '*', 'platform', j.platform, 'channel', j.channel, 'payload', j.payload, 'attempt', tostring(j.attempt), 'slot', tostring(j.slot or 0))
end
return #due
