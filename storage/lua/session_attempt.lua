-- session_attempt.lua: counts one sign-in attempt against each key, atomically,
-- so that parallel attempts cannot slip past a limit. A limit is either
--   a fixed window (backoff 0): a counter that starts with its first attempt
--   and refuses past its limit until the window ends; or
--   a backoff (backoff > 0): a hash {n, until}. The first `limit` attempts are
--   free; each one after them is allowed but makes the next wait backoff,
--   doubling each time, up to the window. The hash is forgotten a window
--   after its last attempt.
-- An attempt that arrives while a backoff holds is refused without being
-- counted anywhere: it never reached a password check.
-- KEYS: limits  ARGV[1]: now (ms, the caller's clock, which the backoff's
-- `until` is compared with)  ARGV[3i-1], ARGV[3i], ARGV[3i+1]: the window (ms),
-- limit and backoff (ms) of KEYS[i]
-- Returns 0, or the ms until the caller may try again.
local now = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  if tonumber(ARGV[3 * i + 1]) > 0 then
    local untl = tonumber(redis.call('HGET', key, 'until') or '0')
    if untl - now > wait then wait = untl - now end
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  local window, limit, backoff = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
  if backoff > 0 then
    local n = redis.call('HINCRBY', key, 'n', 1)
    if n > limit then
      -- math.min caps 2^k before it could overflow into inf
      local delay = math.min(backoff * 2 ^ math.min(n - limit - 1, 40), window)
      redis.call('HSET', key, 'until', string.format('%d', now + delay))
    end
    redis.call('PEXPIRE', key, window)
  else
    local n = redis.call('INCR', key)
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      redis.call('PEXPIRE', key, window)
      ttl = window
    end
    if n > limit and ttl > wait then wait = ttl end
  end
end
return wait
