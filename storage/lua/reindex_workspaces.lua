-- reindex_workspaces.lua: rebuilds the members set of every workspace
-- (usher:{org}:wsm:NAME) from the users' own grants, then marks the index
-- complete (usher:{org}:wsm), in one step so that no commit lands between
-- the read and the marker. KEYS[1] the users zset, KEYS[2] the workspaces
-- hash, KEYS[3] the marker; ARGV[1] the user key prefix, ARGV[2] the sets'.
local call = redis.call
local users = call('ZRANGE', KEYS[1], 0, -1)
local sets, members = {}, {}
for _, name in ipairs(call('HKEYS', KEYS[2])) do sets[name] = true end
for _, id in ipairs(users) do
  local ws = call('HGET', ARGV[1] .. id, 'ws') or ''
  for name in string.gmatch(ws, '([^,:]+):[^,]*') do
    sets[name] = true
    members[name] = members[name] or {}
    members[name][#members[name] + 1] = id
  end
end
for name in pairs(sets) do call('DEL', ARGV[2] .. name) end
for name, ids in pairs(members) do
  for i = 1, #ids, 500 do call('SADD', ARGV[2] .. name, unpack(ids, i, math.min(i + 499, #ids))) end
end
call('SET', KEYS[3], '1')
return #users
