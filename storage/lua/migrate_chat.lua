-- migrate_chat.lua: the chat identity index maps to identities (lower-cased
-- addresses). KEYS[1] chat. Returns how many entries changed.
local n = 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local v = all[i + 1]
  local lv = string.lower(v)
  if v ~= lv then
    redis.call('HSET', KEYS[1], all[i], lv)
    n = n + 1
  end
end
return n
