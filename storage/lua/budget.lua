-- budget.lua: rate budgets shared by every replica, as GCRA (the generic
-- cell rate algorithm): each budget is a hash {tat = the theoretical arrival
-- time of the next call (ms), f = the slow-down factor after a 429, fx = when
-- that factor ends (ms)}. Redis's clock (TIME), shared by every replica.
--
-- ARGV[1] "take": calls, in order, each reserving one call in every one of
--   its budgets (KEYS) at once, at the earliest instant all of them allow,
--   when that is within ARGV[2] ms. ARGV[3..2+3n] are (every ms, burst,
--   window ms) per key; then the number of calls, and per call a count and
--   that many key indexes (a batch of messages takes its slots in one
--   round trip). Returns a pair per call: {wait ms, 1} when reserved (the
--   caller goes in wait ms), {wait ms, 0} when the slot is further than
--   ARGV[2], or more than one interval past the call's shared budget's own
--   earliest slot (nothing taken: the caller asks again then); the first
--   budget of a call is the shared one (a method's), the others its own (a
--   conversation's).
-- ARGV[1] "slow": a 429 with Retry-After ARGV[2] ms on KEYS[1] (every
--   ARGV[3] ms, burst ARGV[4]): nobody calls before then, and the budget's
--   interval doubles (up to 16x; once per Retry-After, whatever the number
--   of 429s within it) for ARGV[5] ms, so that a limit lower than the
--   published one is not hit again right after the wait. ARGV[6] is the
--   budget's window (a sliding log's; 0 for a GCRA).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function factor(h)
  local f = tonumber(h[2]) or 1
  if (tonumber(h[3]) or 0) <= now then f = 1 end
  return f
end

if ARGV[1] == 'slow' then
  local wait, every, burst, hold = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
  -- A sliding log's tat is only "nobody before": no burst to hold back.
  if (tonumber(ARGV[6]) or 0) > 0 then burst = 1 end
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

-- take: the calls in order, each reserving its budgets (KEYS indexes) all
-- at once; the states are read once, kept here as calls take from them,
-- and written once at the end.
local max = tonumber(ARGV[2])
local n = #KEYS
local state = {}
-- A budget with a window (ARGV's third value per key, ms) is a sliding
-- log: at most burst calls in any window, in a ring of burst slots in its
-- hash (l0.., lh the next to write), so a whole window's quota may go at
-- once, as Slack's per-minute tiers allow; its tat is only "nobody
-- before" (a 429).
local function get(i)
  local s = state[i]
  if s then return s end
  local every, burst, window = tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2])
  local h = redis.call('HMGET', KEYS[i], 'tat', 'f', 'fx', 'lh')
  local f = factor(h)
  every = every * f
  s = {tat = math.max(tonumber(h[1]) or 0, now), every = every, tau = (burst - 1) * every, f = f,
       fx = tonumber(h[3]) or 0, dirty = false}
  if window > 0 then
    -- Slowed by a 429, a log allows burst/f calls a window, not burst in
    -- f windows: a smaller burst, since the limit it hit was one.
    s.window, s.burst, s.tau, s.k = window, burst, 0, math.max(1, math.floor(burst / f))
    s.head = (tonumber(h[4]) or 0) % burst
  end
  state[i] = s
  return s
end

-- earliest is when budget s allows its next call.
local function earliest(i, s)
  if not s.window then return s.tat - s.tau end
  -- The k-th latest call (the oldest of a full ring when not slowed).
  local oldest = tonumber(redis.call('HGET', KEYS[i], 'l' .. ((s.head - s.k) % s.burst))) or 0
  return math.max(s.tat, oldest + s.window)
end

local function take(idx)
  local at = now
  local first
  for k, i in ipairs(idx) do
    local e = earliest(i, get(i))
    if k == 1 then first = e end
    at = math.max(at, e)
  end
  if at - now > max then
    return {at - now, 0}
  end
  -- A slot later than one interval past the shared budget's own earliest
  -- (a call's first: a method's) would leave it idle meanwhile (a
  -- conversation's wait holding up the method's calls to everyone else):
  -- take nothing, the caller asks again then. The call's own budgets (a
  -- conversation's) may idle: nobody else is waiting on them.
  if at - math.max(now, first) > state[idx[1]].every then
    return {at - now, 0}
  end
  for _, i in ipairs(idx) do
    local s = state[i]
    if s.window then
      redis.call('HSET', KEYS[i], 'l' .. s.head, at)
      s.head = (s.head + 1) % s.burst
      s.last = math.max(s.last or 0, at)
    else
      s.tat = math.max(s.tat, at) + s.every
    end
    s.dirty = true
  end
  return {at - now, 1}
end

local calls = {}
local pos = 4 + 3 * n
for k = 1, tonumber(ARGV[3 + 3 * n]) do
  local idx = {}
  for j = 1, tonumber(ARGV[pos]) do idx[j] = tonumber(ARGV[pos + j]) end
  pos = pos + 1 + #idx
  calls[k] = idx
end
local out = {}
for k, idx in ipairs(calls) do
  local r = take(idx)
  out[2 * k - 1], out[2 * k] = r[1], r[2]
end
for i, s in pairs(state) do
  if s.dirty then
    if s.window then
      redis.call('HSET', KEYS[i], 'lh', s.head)
      if s.f == 1 then redis.call('HSET', KEYS[i], 'f', 1, 'fx', 0) end
      redis.call('PEXPIRE', KEYS[i], math.max(s.last - now + s.window, s.fx - now) + 1000)
    else
      if s.f > 1 then
        redis.call('HSET', KEYS[i], 'tat', s.tat)
      else
        redis.call('HSET', KEYS[i], 'tat', s.tat, 'f', 1, 'fx', 0)
      end
      redis.call('PEXPIRE', KEYS[i], math.max(s.tat - now, s.fx - now) + 1000)
    end
  end
end
return out
