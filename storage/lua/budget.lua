-- budget.lua: rate budgets shared by every replica, as GCRA (the generic
-- cell rate algorithm): each budget is a hash {tat = the theoretical arrival
-- time of the next call (ms), f = the slow-down factor after a 429, fx = when
-- that factor ends (ms)}. Redis's clock (TIME), shared by every replica.
--
-- ARGV[1] "take": reserve one call in every budget of KEYS at once, at the
--   earliest instant all of them allow, when that is within ARGV[2] ms;
--   then ARGV[3..] are (every ms, burst) per key. Returns {wait ms, 1} when
--   reserved (the caller goes in wait ms), {wait ms, 0} when the slot is
--   further than ARGV[2], or more than one interval past some budget's own
--   earliest slot (nothing taken: the caller asks again then).
-- ARGV[1] "slow": a 429 with Retry-After ARGV[2] ms on KEYS[1] (every
--   ARGV[3] ms, burst ARGV[4]): nobody calls before then, and the budget's
--   interval doubles (up to 16x; once per Retry-After, whatever the number
--   of 429s within it) for ARGV[5] ms, so that a limit lower than the
--   published one is not hit again right after the wait.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function factor(h)
  local f = tonumber(h[2]) or 1
  if (tonumber(h[3]) or 0) <= now then f = 1 end
  return f
end

if ARGV[1] == 'slow' then
  local wait, every, burst, hold = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
  local h = redis.call('HMGET', KEYS[1], 'tat', 'f', 'fx', 'pu')
  local f = factor(h)
  -- Calls already in flight when the first 429 came (other replicas')
  -- get theirs too: one slow-down per Retry-After, not one per answer.
  if (tonumber(h[4]) or 0) <= now then f = math.min(f * 2, 16) end
  local tau = (burst - 1) * every * f
  -- The earliest next call is now + wait, and no burst right after it.
  local tat = math.max(tonumber(h[1]) or 0, now + wait + tau)
  redis.call('HSET', KEYS[1], 'tat', tat, 'f', f, 'fx', now + hold, 'pu', math.max(tonumber(h[4]) or 0, now + wait))
  redis.call('PEXPIRE', KEYS[1], math.max(tat - now, hold) + 1000)
  return {tat - tau - now, f}
end

local max = tonumber(ARGV[2])
local at = now
local state = {}
for i = 1, #KEYS do
  local every, burst = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local h = redis.call('HMGET', KEYS[i], 'tat', 'f', 'fx')
  local f = factor(h)
  every = every * f
  local tat = math.max(tonumber(h[1]) or 0, now)
  local tau = (burst - 1) * every
  at = math.max(at, tat - tau)
  state[i] = {tat, every, tau, f, tonumber(h[3]) or 0}
end
if at - now > max then
  return {at - now, 0}
end
-- A slot later than one interval past a budget's own earliest would leave
-- that budget idle meanwhile (a conversation's wait holding up a method's
-- calls to everyone else): take nothing, the caller asks again then.
for i = 1, #KEYS do
  local s = state[i]
  if at - math.max(now, s[1] - s[3]) > s[2] then
    return {at - now, 0}
  end
end
for i = 1, #KEYS do
  local s = state[i]
  local tat = math.max(s[1], at) + s[2]
  if s[4] > 1 then
    redis.call('HSET', KEYS[i], 'tat', tat)
  else
    redis.call('HSET', KEYS[i], 'tat', tat, 'f', 1, 'fx', 0)
  end
  redis.call('PEXPIRE', KEYS[i], math.max(tat - now, s[5] - now) + 1000)
end
return {at - now, 1}
