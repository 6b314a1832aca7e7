-- apply.lua: atomic transitions, as a list of ops naming keys by index into
-- KEYS; an op named '|' separates one change from the next (concurrent
-- commits share one call: storage/group.go). Each change is applied on its
-- own: every guard runs before any of its writes, so a refused change writes
-- nothing, and a change refused does not stop the others. Redis runs the
-- script without interleaving other clients, which makes guard + writes +
-- audit entry one atomic step.
-- Returns one result per change: {'ok'}, {'ok', 'again'} or {'fail', op, actual}:
-- op is the failed guard's number in the call (counted from 1, separators
-- included), which the caller maps to the error that guard declared
-- (storage/commit_*.go), and actual what Redis holds instead.
--
-- ARGV is flat, as lua/ops.lua describes: "name, key index, argument count,
-- arguments..." per op. Unlike read.lua this script does not copy the ops
-- into tables: it reads ARGV in place (an invitation's commit is ~100
-- arguments; the copies cost more than the writes they describe).

local ARGV, KEYS, call, tonumber, unpack = ARGV, KEYS, redis.call, tonumber, unpack

-- starts[j]: where op j begins in ARGV
local starts = {}
do
  local i, n = 1, #ARGV
  while i <= n do
    starts[#starts + 1] = i
    i = i + 3 + tonumber(ARGV[i + 2])
  end
end

local function apply(first, last)
  for j = first, last do
    local p = starts[j]
    local c, key = ARGV[p], KEYS[tonumber(ARGV[p + 1])]
    if c == 'once' then
      -- this very commit already ran (the client re-sent it after a timeout),
      -- or its id was fenced off after a lost reply (storage/commit_transport.go settle)
      if call('EXISTS', key) == 1 then return {'ok', 'again'} end
    elseif c == 'hfeq' then
      -- a hash field (absent reads as '') must still hold what was read
      local v = call('HGET', key, ARGV[p + 3]) or ''
      if v ~= ARGV[p + 4] then return {'fail', j, v} end
    elseif c == 'absent' then
      if call('EXISTS', key) == 1 then return {'fail', j, 'exists'} end
    elseif c == 'hfabsent' then
      if call('HEXISTS', key, ARGV[p + 3]) == 1 then return {'fail', j, 'exists'} end
    elseif c == 'hptr' then
      -- a pointer in a hash field must be unset or already point at this value (one open invitation per email),
      -- or at ARGV[p+5] when given: the open invitation this same change closes (an expired one replaced)
      local v = call('HGET', key, ARGV[p + 3])
      if v and v ~= ARGV[p + 4] and (tonumber(ARGV[p + 2]) < 3 or v ~= ARGV[p + 5]) then
        return {'fail', j, v}
      end
    elseif c == 'lastadmin' then
      -- the member may leave the set only if somebody else stays in it
      if call('SISMEMBER', key, ARGV[p + 3]) == 1 and call('SCARD', key) <= 1 then
        return {'fail', j, 'last'}
      end
    elseif c == 'quota' then
      local used = tonumber(call('GET', key) or '0')
      if used + tonumber(ARGV[p + 3]) > tonumber(ARGV[p + 4]) then return {'fail', j, tostring(used)} end
    end
  end

  for j = first, last do
    local p = starts[j]
    local c, key, a = ARGV[p], KEYS[tonumber(ARGV[p + 1])], p + 3
    local z = p + 2 + tonumber(ARGV[p + 2]) -- the last argument
    if c == 'once' then
      call('SET', key, '1', 'PX', ARGV[a])
    elseif c == 'hset' then
      call('HSET', key, unpack(ARGV, a, z))
    elseif c == 'grants' then
      -- the members of each workspace (wsm:NAME sets) follow the user's
      -- grants: its record (key) still holds the ones it had
      local old, prefix, id, new = call('HGET', key, 'ws') or '', ARGV[a], ARGV[a + 1], ARGV[a + 2]
      local had, has = {}, {}
      for name in string.gmatch(old, '([^,:]+):[^,]*') do had[name] = true end
      for name in string.gmatch(new, '([^,:]+):[^,]*') do has[name] = true end
      for name in pairs(had) do if not has[name] then call('SREM', prefix .. name, id) end end
      for name in pairs(has) do if not had[name] then call('SADD', prefix .. name, id) end end
    elseif c == 'hdel' then
      call('HDEL', key, unpack(ARGV, a, z))
    elseif c == 'del' then
      call('DEL', key)
    elseif c == 'hdelifeq' then
      if call('HGET', key, ARGV[a]) == ARGV[a + 1] then call('HDEL', key, ARGV[a]) end
    elseif c == 'set' then
      -- ARGV[a+1]: time to live in ms (relative, so a test's fake clock cannot expire it early); '0' keeps it
      if ARGV[a + 1] ~= '0' then call('SET', key, ARGV[a], 'PX', ARGV[a + 1]) else call('SET', key, ARGV[a]) end
    elseif c == 'zadd' then
      call('ZADD', key, ARGV[a], ARGV[a + 1])
    elseif c == 'zrem' then
      call('ZREM', key, ARGV[a])
    elseif c == 'sadd' then
      call('SADD', key, ARGV[a])
    elseif c == 'srem' then
      call('SREM', key, ARGV[a])
    elseif c == 'incrby' then
      -- a counter that expires (ARGV[a+1] ms) after its first increment
      if call('INCRBY', key, ARGV[a]) == tonumber(ARGV[a]) then call('PEXPIRE', key, ARGV[a + 1]) end
    elseif c == 'delmembers' then
      -- delete every key named prefix..member of a set, then the set (a user's web sessions)
      for _, m in ipairs(call('SMEMBERS', key)) do call('DEL', ARGV[a] .. m) end
      call('DEL', key)
    elseif c == 'xadd' then
      call('XADD', key, 'MAXLEN', '~', ARGV[a], '*', unpack(ARGV, a + 1, z))
    elseif c == 'xaddq' then
      -- a queue (the outbox): never trimmed, its consumers delete what they sent
      call('XADD', key, '*', unpack(ARGV, a, z))
    elseif c == 'hincrby' then
      call('HINCRBY', key, ARGV[a], ARGV[a + 1])
    elseif c == 'hcount' then
      -- count ARGV[a+1] once per ARGV[a] (a bulk invitation's progress: one
      -- invitation settled, however often its delivery is recorded); with
      -- ARGV[a+2] (the index of a zset in KEYS) and ARGV[a+3], list the
      -- member there in the same step, scored by the new count, so the
      -- list holds exactly what was counted, in the order it settled
      if call('HSETNX', key, ARGV[a], ARGV[a + 1]) == 1 then
        local n = call('HINCRBY', key, ARGV[a + 1], 1)
        if z >= a + 3 then call('ZADD', KEYS[tonumber(ARGV[a + 2])], n, ARGV[a + 3]) end
      end
    elseif c == 'pexpire' then
      call('PEXPIRE', key, ARGV[a])
    end
  end
  return {'ok'}
end

local results, first, n = {}, 1, #starts
for j = 1, n + 1 do
  if j > n or ARGV[starts[j]] == '|' then
    results[#results + 1] = apply(first, j - 1)
    first = j + 1
  end
end
return results
