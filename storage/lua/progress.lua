-- progress.lua: a bulk invitation's progress message, updated in place by
-- whichever replica delivers (storage/progress.go). One update at a time:
-- 'claim' hands out a lease (a token) only when an update is due, so two
-- replicas never race their edits (a later edit showing an older count);
-- 'shown' returns the lease and says whether counts moved on meanwhile.
-- Times are Redis's clock (TIME), the one clock every replica shares.
--
-- KEYS[1] the record; ARGV[1] the mode, then:
--   anchor  platform channel message user workspace -> {'ok'} (a record gone: {'none'})
--   claim   every-ms lease-ms token -> {'due', token, fields...} | {'later', ms} | {'none'}
--   shown   token settled final(0|1) every-ms -> {'again', ms} | {'ok'}
local key, mode = KEYS[1], ARGV[1]
if redis.call('EXISTS', key) == 0 then return {'none'} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function num(f) return tonumber(redis.call('HGET', key, f) or '0') or 0 end
local function settled() return num('delivered') + num('emailed') + num('unreachable') end
local function final() return redis.call('HGET', key, 'sealed') == '1' and settled() >= num('total') end

if mode == 'anchor' then
  -- the message as posted shows nothing settled yet: it counts as an update
  redis.call('HSET', key, 'a_platform', ARGV[2], 'a_channel', ARGV[3], 'a_message', ARGV[4], 'a_user', ARGV[5], 'a_ws', ARGV[6],
    'last', now, 'shown', 0)
  return {'ok'}
end

if mode == 'claim' then
  if redis.call('HEXISTS', key, 'a_message') == 0 or redis.call('HGET', key, 'final') == '1' then return {'none'} end
  local every, lease = tonumber(ARGV[2]), tonumber(ARGV[3])
  local until_ = num('lease_until')
  if until_ > now then return {'later', until_ - now} end
  local n, fin = settled(), final()
  if not fin then
    if n == num('shown') then return {'none'} end
    local nxt = num('last') + every
    if nxt > now then return {'later', nxt - now} end
  end
  redis.call('HSET', key, 'lease', ARGV[4], 'lease_until', now + lease, 'last', now)
  local out = {'due', ARGV[4]}
  for _, f in ipairs({'total', 'delivered', 'emailed', 'unreachable', 'sealed', 'sender',
                      'a_platform', 'a_channel', 'a_message', 'a_user', 'a_ws', 'nolinks'}) do
    out[#out + 1] = redis.call('HGET', key, f) or ''
  end
  return out
end

if mode == 'shown' then
  if redis.call('HGET', key, 'lease') ~= ARGV[2] then return {'ok'} end
  redis.call('HDEL', key, 'lease', 'lease_until')
  redis.call('HSET', key, 'shown', ARGV[3])
  if ARGV[4] == '1' then
    redis.call('HSET', key, 'final', '1')
    return {'ok'}
  end
  if settled() > tonumber(ARGV[3]) or final() then return {'again', tonumber(ARGV[5])} end
  return {'ok'}
end
return redis.error_reply('progress.lua: unknown mode ' .. tostring(mode))
