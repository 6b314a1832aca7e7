-- read.lua: answers a whole query in one round trip.
-- The read ops (lua/ops.lua) each name their key by index into KEYS
-- (so a cluster routes by the org's hash tag). Ops that follow a pointer build
-- the pointed-to key from a prefix that carries the same hash tag.
local out = {}
for i, op in ipairs(ops) do
  local c, key = op[1], op[2]
  local r
  if c == 'hgetall' then
    r = redis.call('HGETALL', key)
  elseif c == 'hget' then
    r = redis.call('HGET', key, op[3]) or ''
  elseif c == 'get' then
    r = redis.call('GET', key) or ''
  elseif c == 'smembers' then
    r = redis.call('SMEMBERS', key)
  elseif c == 'zcard' then
    r = redis.call('ZCARD', key)
  elseif c == 'href' then
    -- follow a hash field (token hash or invitee email -> invitation id) to a hash
    local id = redis.call('HGET', key, op[3])
    if id then r = redis.call('HGETALL', op[4] .. id) else r = {} end
  elseif c == 'zhashes' then
    -- the hashes named by a sorted set's members, in rank order
    local ids = redis.call('ZRANGE', key, op[4], op[5])
    r = {}
    for j, id in ipairs(ids) do r[j] = redis.call('HGETALL', op[3] .. id) end
  elseif c == 'zfields' then
    -- like zhashes, but only the named fields (HMGET), for lists that need few
    local ids = redis.call('ZRANGE', key, op[4], op[5])
    local fields = {unpack(op, 6)}
    r = {}
    for j, id in ipairs(ids) do r[j] = redis.call('HMGET', op[3] .. id, unpack(fields)) end
  elseif c == 'zaccess' then
    -- who has access to workspace op[4] ('' for any): identity and access of
    -- the sorted set's users whose grants name it, filtered here so that a
    -- workspace's members cost no transfer of everyone else; read from the
    -- workspace's members set (op[6]) once the index is complete (op[5])
    local ids
    if op[4] ~= '' and redis.call('EXISTS', op[5]) == 1 then
      ids = redis.call('SMEMBERS', op[6])
    else
      ids = redis.call('ZRANGE', key, 0, -1)
    end
    local want = ',' .. op[4] .. ':'
    r = {}
    for _, id in ipairs(ids) do
      local v = redis.call('HMGET', op[3] .. id, 'email', 'sp', 'ws')
      local ws = v[3]
      if ws and ws ~= '' and (op[4] == '' or string.find(',' .. ws, want, 1, true)) then
        r[#r + 1] = v
      end
    end
  elseif c == 'xrevrange' then
    r = redis.call('XREVRANGE', key, '+', '-', 'COUNT', op[3])
  else
    return redis.error_reply('read.lua: unknown op ' .. tostring(c))
  end
  out[i] = r
end
return out
