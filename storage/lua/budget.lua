-- budget.lua: rate budgets shared by every replica, as GCRA (the generic
-- cell rate algorithm): each budget is a hash {tat = the theoretical arrival
-- time of the next call (ms), f = the slow-down factor after a 429, fx = when
-- that factor ends (ms)}. Redis's clock (TIME), shared by every replica.
--
-- ARGV[1] "take": reserve one call in every budget of KEYS at once, at the
--   earliest instant all of them allow, when that is within ARGV[2] ms;
--   then ARGV[3..2+2n] are (every ms, burst) per key. Returns {wait ms, 1}
--   when reserved (the caller goes in wait ms), {wait ms, 0} when the slot
--   is further than ARGV[2], or more than one interval past some budget's
--   own earliest slot (nothing taken: the caller asks again then); the
--   first budget of a call is the shared one (a method's), the others its
--   own (a conversation's). With a
--   list of calls after the budgets (see below), each call reserves from
--   its own keys, in order, and the answer is a pair per call: a batch of
--   messages takes its slots in one round trip.
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

-- take: the calls in order, each reserving its budgets (KEYS indexes) all
-- at once; the states are read once, kept here as calls take from them,
-- and written once at the end.
local max = tonumber(ARGV[2])
local n = #KEYS
local state = {}
local function get(i)
  local s = state[i]
  if s then return s end
  local every, burst = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local h = redis.call('HMGET', KEYS[i], 'tat', 'f', 'fx')
  local f = factor(h)
  every = every * f
  s = {tat = math.max(tonumber(h[1]) or 0, now), every = every, tau = (burst - 1) * every, f = f,
       fx = tonumber(h[3]) or 0, dirty = false}
  state[i] = s
  return s
end

local function take(idx)
  local at = now
  for _, i in ipairs(idx) do
    local s = get(i)
    at = math.max(at, s.tat - s.tau)
  end
  if at - now > max then
    return {at - now, 0}
  end
  -- A slot later than one interval past the shared budget's own earliest
  -- (a call's first: a method's) would leave it idle meanwhile (a
  -- conversation's wait holding up the method's calls to everyone else):
  -- take nothing, the caller asks again then. The call's own budgets (a
  -- conversation's) may idle: nobody else is waiting on them.
  local s = state[idx[1]]
  if at - math.max(now, s.tat - s.tau) > s.every then
    return {at - now, 0}
  end
  for _, i in ipairs(idx) do
    local s = state[i]
    s.tat = math.max(s.tat, at) + s.every
    s.dirty = true
  end
  return {at - now, 1}
end

-- ARGV[3 + 2n], when present, is the number of calls, each a count and
-- that many key indexes; without it, one call takes from every key.
local calls = {}
local c = tonumber(ARGV[3 + 2 * n])
if c == nil then
  local all = {}
  for i = 1, n do all[i] = i end
  calls[1] = all
else
  local pos = 4 + 2 * n
  for k = 1, c do
    local idx = {}
    for j = 1, tonumber(ARGV[pos]) do idx[j] = tonumber(ARGV[pos + j]) end
    pos = pos + 1 + #idx
    calls[k] = idx
  end
end
local out = {}
for k, idx in ipairs(calls) do
  local r = take(idx)
  out[2 * k - 1], out[2 * k] = r[1], r[2]
end
for i, s in pairs(state) do
  if s.dirty then
    if s.f > 1 then
      redis.call('HSET', KEYS[i], 'tat', s.tat)
    else
      redis.call('HSET', KEYS[i], 'tat', s.tat, 'f', 1, 'fx', 0)
    end
    redis.call('PEXPIRE', KEYS[i], math.max(s.tat - now, s.fx - now) + 1000)
  end
end
return out
