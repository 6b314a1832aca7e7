-- outbox_add.lua: queue a job once. go-redis re-sends a command whose reply
-- timed out; a plain XADD re-sent would queue the message twice.
-- KEYS[1] stream, KEYS[2] this add's id key; ARGV[1] id key lifetime (ms),
-- ARGV[2..] the job's fields.
local prev = redis.call('GET', KEYS[2])
if prev then return prev end
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
redis.call('SET', KEYS[2], id, 'PX', ARGV[1])
return id
