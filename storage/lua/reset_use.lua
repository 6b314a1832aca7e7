-- reset_use.lua: uses a forgot-password link up and sets the person's new
-- password with it, in one step: of two submits of the same link, one sets
-- its password and the other finds the link gone. Every web session of the
-- person ends, and the credential's version moves, so a sign-in racing this
-- opens nothing (session_create.lua).
-- KEYS[1] reset:HASH  KEYS[2] reset_of:EMAIL  KEYS[3] user:EMAIL (the credential)
-- KEYS[4] sessions:EMAIL
-- ARGV: email (as issued), password hash, session key prefix, the link's hash
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return {'used'}
end
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[4] then
  redis.call('DEL', KEYS[2])
end
local ver = redis.call('HGET', KEYS[3], 'ver') or '0'
local next = tostring(tonumber(ver) + 1)
redis.call('HSET', KEYS[3], 'email', ARGV[1], 'status', 'active', 'hash', ARGV[2], 'must', '', 'expires', '0', 'ver', next)
for _, m in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  redis.call('DEL', ARGV[3] .. m)
end
redis.call('DEL', KEYS[4])
return {'ok', next}
