-- migrate_invitation.lua: rewrites one open invitation whose invitee or
-- inviter was stored with capitals to their identities (lower-cased), with
-- the "open" pointer and the inviter's index, atomically. The old spellings
-- become the display spellings ('sp', 'bysp'), unless one is kept already.
-- KEYS[1] inv:ID   KEYS[2] open   KEYS[3] by:SPELLING   KEYS[4] by:IDENTITY
-- ARGV[1] the invitation id
-- Returns {'ok', moved} or {'conflict', other id}: the invitee already has
-- another open invitation under their identity.
local id = ARGV[1]
local h = redis.call('HMGET', KEYS[1], 'email', 'by')
if not h[1] then return {'ok', '0'} end
local email, by = h[1], h[2] or ''
local le, lb = string.lower(email), string.lower(by)
local moved = 0
if email ~= le then
  if redis.call('HGET', KEYS[2], email) == id then
    local other = redis.call('HGET', KEYS[2], le)
    if other and other ~= id then return {'conflict', other} end
    redis.call('HDEL', KEYS[2], email)
    redis.call('HSET', KEYS[2], le, id)
  end
  redis.call('HSET', KEYS[1], 'email', le)
  redis.call('HSETNX', KEYS[1], 'sp', email)
  moved = 1
end
if by ~= lb then
  redis.call('HSET', KEYS[1], 'by', lb)
  redis.call('HSETNX', KEYS[1], 'bysp', by)
  local score = redis.call('ZSCORE', KEYS[3], id)
  if score then
    redis.call('ZREM', KEYS[3], id)
    redis.call('ZADD', KEYS[4], score, id)
  end
  moved = 1
end
return {'ok', tostring(moved)}
