-- directory_remove.lua: forget an organization: its record and every tenant
-- entry it owns, in one step. An entry that now names another organization
-- is left alone (it was never this one's to drop).
--
-- KEYS[1] orgs, KEYS[2] slack, KEYS[3] teams, KEYS[4] links (see
-- directory_link.lua); ARGV[1] org id. Returns the tenant entries dropped,
-- or -1 when the organization was not registered.
local id = ARGV[1]
local had = redis.call('HDEL', KEYS[1], id)
local dropped = 0
for _, member in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  local platform, field = string.match(member, '^(%a+)|(.*)$')
  local key = platform == 'slack' and KEYS[2] or KEYS[3]
  if redis.call('HGET', key, field) == id then
    redis.call('HDEL', key, field)
    dropped = dropped + 1
  end
end
redis.call('DEL', KEYS[4])
if had == 0 and dropped == 0 then return -1 end
return dropped
