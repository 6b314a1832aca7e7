-- migrate_user.lua: moves one person stored under a spelling with capitals
-- (ARGV[1], by versions before the identity rule) to their identity
-- (ARGV[2], the address lower-cased), keeping ARGV[1] as the record's display
-- spelling ('sp'), atomically: the user record, its
-- indexes, their web sessions, the invitations they sent and today's quota.
-- Every key shares the organization's hash tag (one Cluster slot).
-- KEYS[1] user:SPELLING   KEYS[2] user:IDENTITY   KEYS[3] users   KEYS[4] admins
-- KEYS[5] sessions:SPELLING   KEYS[6] sessions:IDENTITY
-- KEYS[7] by:SPELLING   KEYS[8] by:IDENTITY
-- KEYS[9..] pairs quota:SPELLING:DAY, quota:IDENTITY:DAY
-- ARGV[3] the session key prefix
-- Returns {'ok', moved} (moved: 1 if a record moved) or {'conflict'}: both
-- spellings hold a record, which only a person may resolve.
local from, to = ARGV[1], ARGV[2]
local moved = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('EXISTS', KEYS[2]) == 1 then return {'conflict'} end
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('HSET', KEYS[2], 'email', to)
  -- what people saw stays what they see: the old spelling becomes the
  -- display spelling (HSETNX: a spelling already kept wins)
  redis.call('HSETNX', KEYS[2], 'sp', from)
  moved = 1
end
local exists = redis.call('EXISTS', KEYS[2]) == 1
if redis.call('ZREM', KEYS[3], from) == 1 and exists then redis.call('ZADD', KEYS[3], 0, to) end
-- the last-admin set holds active admins only: re-derive membership from the record
if redis.call('SREM', KEYS[4], from) == 1 and exists then
  local u = redis.call('HMGET', KEYS[2], 'role', 'status')
  if u[1] == 'admin' and u[2] == 'active' then redis.call('SADD', KEYS[4], to) end
end
-- web sessions: the index moves, each session names its user by identity
local ttl = redis.call('PTTL', KEYS[5])
for _, m in ipairs(redis.call('SMEMBERS', KEYS[5])) do
  redis.call('SADD', KEYS[6], m)
  if redis.call('EXISTS', ARGV[3] .. m) == 1 then redis.call('HSET', ARGV[3] .. m, 'email', to) end
end
if ttl > 0 and redis.call('PTTL', KEYS[6]) < ttl then redis.call('PEXPIRE', KEYS[6], ttl) end
redis.call('DEL', KEYS[5])
-- pending invitations sent by this person (an index: merging loses nothing)
if redis.call('EXISTS', KEYS[7]) == 1 then
  redis.call('ZUNIONSTORE', KEYS[8], 2, KEYS[8], KEYS[7])
  redis.call('DEL', KEYS[7])
end
-- the daily invitation counters add up, and expire with the later of the two
for i = 9, #KEYS - 1, 2 do
  local n = redis.call('GET', KEYS[i])
  if n then
    local left = redis.call('PTTL', KEYS[i])
    redis.call('INCRBY', KEYS[i + 1], n)
    if left > 0 and redis.call('PTTL', KEYS[i + 1]) < left then redis.call('PEXPIRE', KEYS[i + 1], left) end
    redis.call('DEL', KEYS[i])
  end
end
return {'ok', tostring(moved)}
