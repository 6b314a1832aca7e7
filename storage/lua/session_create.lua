-- session_create.lua: stores one web session and indexes it under its user, so
-- that apply.lua's delmembers (a reset, a deactivation, a password change)
-- ends it with every other session of that user. The session is created only
-- if the user is still active at the version the sign-in verified: a sign-in
-- that raced a deactivation or a reset opens nothing.
-- KEYS[1] session:IDHASH  KEYS[2] sessions:EMAIL  KEYS[3] user:EMAIL
-- ARGV: email, stamp, created (ms), ttl (ms), session key prefix, id hash, user version
local user = redis.call('HMGET', KEYS[3], 'status', 'ver')
if user[1] ~= 'active' or user[2] ~= ARGV[7] then
  return {'stale', (user[1] or 'none') .. ' v' .. (user[2] or '0')}
end
redis.call('HSET', KEYS[1], 'email', ARGV[1], 'stamp', ARGV[2], 'created', ARGV[3], 'ver', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
-- Forget sessions that expired on their own, so the index stays small.
for _, m in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[5] .. m) == 0 then redis.call('SREM', KEYS[2], m) end
end
redis.call('SADD', KEYS[2], ARGV[6])
-- The index lives as long as its longest-lived session.
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
return {'ok'}
