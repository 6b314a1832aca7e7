-- apply.lua: atomic transitions, as a list of ops (lua/ops.lua) naming keys
-- by index into KEYS; an op named '|' separates one change from the next
-- (concurrent commits share one call: storage/group.go). Each change is
-- applied on its own: every guard runs before any of its writes, so a refused
-- change writes nothing, and a change refused does not stop the others.
-- Redis runs the script without interleaving other clients, which makes guard
-- + writes + audit entry one atomic step.
-- Returns one result per change: {'ok'}, {'ok', 'again'} or {'fail', label, actual}.

local function apply(first, last)
  for i = first, last do
    local op = ops[i]
    local c, key = op[1], op[2]
    if c == 'once' then
      -- this very commit already ran (the client re-sent it after a timeout)
      if redis.call('EXISTS', key) == 1 then return {'ok', 'again'} end
    elseif c == 'hfeq' then
      -- a hash field (absent reads as '') must still hold what was read
      local v = redis.call('HGET', key, op[3]) or ''
      if v ~= op[4] then return {'fail', op[5], v} end
    elseif c == 'absent' then
      if redis.call('EXISTS', key) == 1 then return {'fail', op[3], 'exists'} end
    elseif c == 'hfabsent' then
      if redis.call('HEXISTS', key, op[3]) == 1 then return {'fail', op[4], 'exists'} end
    elseif c == 'hptr' then
      -- a pointer in a hash field must be unset or already point at this value (one open invitation per email)
      local v = redis.call('HGET', key, op[3])
      if v and v ~= op[4] then return {'fail', op[5], v} end
    elseif c == 'lastadmin' then
      -- the member may leave the set only if somebody else stays in it
      if redis.call('SISMEMBER', key, op[3]) == 1 and redis.call('SCARD', key) <= 1 then
        return {'fail', op[4], 'last'}
      end
    elseif c == 'quota' then
      local used = tonumber(redis.call('GET', key) or '0')
      if used + tonumber(op[3]) > tonumber(op[4]) then return {'fail', op[5], tostring(used)} end
    end
  end

  for i = first, last do
    local op = ops[i]
    local c, key = op[1], op[2]
    if c == 'once' then
      redis.call('SET', key, '1', 'PX', op[3])
    elseif c == 'hset' then
      redis.call('HSET', key, unpack(op, 3))
    elseif c == 'hdel' then
      redis.call('HDEL', key, unpack(op, 3))
    elseif c == 'del' then
      redis.call('DEL', key)
    elseif c == 'hdelifeq' then
      if redis.call('HGET', key, op[3]) == op[4] then redis.call('HDEL', key, op[3]) end
    elseif c == 'set' then
      -- op[4]: time to live in ms (relative, so a test's fake clock cannot expire it early); '0' keeps it
      if op[4] ~= '0' then redis.call('SET', key, op[3], 'PX', op[4]) else redis.call('SET', key, op[3]) end
    elseif c == 'zadd' then
      redis.call('ZADD', key, op[3], op[4])
    elseif c == 'zrem' then
      redis.call('ZREM', key, op[3])
    elseif c == 'sadd' then
      redis.call('SADD', key, op[3])
    elseif c == 'srem' then
      redis.call('SREM', key, op[3])
    elseif c == 'incrby' then
      redis.call('INCRBY', key, op[3])
      redis.call('PEXPIRE', key, op[4])
    elseif c == 'delmembers' then
      -- delete every key named prefix..member of a set, then the set (a user's web sessions)
      for _, m in ipairs(redis.call('SMEMBERS', key)) do redis.call('DEL', op[3] .. m) end
      redis.call('DEL', key)
    elseif c == 'xadd' then
      redis.call('XADD', key, 'MAXLEN', '~', op[3], '*', unpack(op, 4))
    elseif c == 'xaddq' then
      -- a queue (the outbox): never trimmed, its consumers delete what they sent
      redis.call('XADD', key, '*', unpack(op, 3))
    elseif c == 'hincrby' then
      redis.call('HINCRBY', key, op[3], op[4])
    end
  end
  return {'ok'}
end

local results, first = {}, 1
for i = 1, #ops + 1 do
  if i > #ops or ops[i][1] == '|' then
    results[#results + 1] = apply(first, i - 1)
    first = i + 1
  end
end
return results
