-- login_set.lua: writes a person's web credential if it is still at the
-- version the caller decided on (0: none yet), and, when asked (a reset, a
-- change), ends every web session of the person in the same step.
-- KEYS[1] user:EMAIL (the credential; session_create.lua checks its status
-- and version)  KEYS[2] sessions:EMAIL
-- ARGV: version, email, hash, must ("1"/""), expires (ms), end ("1"/""), session key prefix
local ver = redis.call('HGET', KEYS[1], 'ver') or '0'
if ver ~= ARGV[1] then
  return {'stale', ver}
end
local next = tostring(tonumber(ver) + 1)
redis.call('HSET', KEYS[1], 'email', ARGV[2], 'status', 'active', 'hash', ARGV[3], 'must', ARGV[4], 'expires', ARGV[5], 'ver', next)
if ARGV[6] == '1' then
  for _, m in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    redis.call('DEL', ARGV[7] .. m)
  end
  redis.call('DEL', KEYS[2])
end
return {'ok', next}
