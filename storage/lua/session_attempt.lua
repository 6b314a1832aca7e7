-- session_attempt.lua: counts one sign-in attempt against each key, atomically,
-- so that parallel attempts cannot slip past a limit. Each key is a fixed
-- window that starts with its first attempt.
-- KEYS: counters  ARGV[2i-1]: the window of KEYS[i] (ms)  ARGV[2i]: its limit
-- Returns 0, or the ms until the longest exceeded window ends.
local wait = 0
for i, key in ipairs(KEYS) do
  local window, limit = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local n = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, window)
    ttl = window
  end
  if n > limit and ttl > wait then wait = ttl end
end
return wait
