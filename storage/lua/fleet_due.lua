-- fleet_due.lua: take up to ARGV[2] organizations whose work is due, for a
-- lease. Runs in the directory's slot.
-- KEYS[1] index zset, KEYS[2] lease hash, KEYS[3] rung hash (fleet_ring.lua),
-- KEYS[4] the lease token counter
-- ARGV[1] now (ms), ARGV[2] limit, ARGV[3] lease (ms)
-- Returns {token, org, org, ...}.
--
-- Each organization taken moves to now + lease: other replicas skip it while
-- it is worked, and it comes back by itself if its worker dies. Its lease
-- token lets only this lease's Settle place it again. The earliest due come
-- first, and one worked goes behind everything due before its lease ends:
-- organizations take turns. O(log N) per organization taken, nothing per
-- organization idle.
local orgs = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #orgs == 0 then return {} end
local token = redis.call('INCR', KEYS[4])
local until_ = tonumber(ARGV[1]) + tonumber(ARGV[3])
local out = {tostring(token)}
for _, id in ipairs(orgs) do
  redis.call('ZADD', KEYS[1], until_, id)
  redis.call('HSET', KEYS[2], id, token)
  redis.call('HDEL', KEYS[3], id)
  out[#out + 1] = id
end
return out
