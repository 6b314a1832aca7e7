-- reset_issue.lua: stores a person's forgot-password link, replacing the one
-- they had: the old link stops working in the same step.
-- KEYS[1] reset:HASH (the new link: hash of its secret -> email)
-- KEYS[2] reset_of:EMAIL (the person's current link's hash)
-- ARGV: email, hash, ttl (ms), reset key prefix
local old = redis.call('GET', KEYS[2])
if old then
  redis.call('DEL', ARGV[4] .. old)
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 'ok'
