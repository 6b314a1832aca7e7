-- outbox_pace.lua: reserve a channel's next send slot, one interval after
-- the last one reserved, so a backlog on one channel drains in order instead
-- of every job retrying at the same instant. Uses Redis's clock, shared by
-- every replica. KEYS[1] the channel's pace key; ARGV[1] interval (ms).
-- Returns how many ms until the reserved slot (0: now).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
redis.call('SET', KEYS[1], tostring(slot + interval), 'PX', slot + interval - now)
return slot - now
