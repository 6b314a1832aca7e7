-- directory_teams_install.lua: a Teams installation added or removed
-- (installationUpdate), in the directory's slot ({_directory}) only.
--
-- A tenant is linked while usher is installed somewhere in it: the set of
-- the conversations (a personal chat, a team, a group chat) where an
-- installation was announced. The removal of the last one unlinks the
-- tenant and remembers which organization it had ("former"), so that
-- installing usher again links it back to the same organization, whose
-- data was never touched. Only a link an install made ("self") is undone
-- so: a tenant an operator linked (`usher org link`, `usher org create
-- --teams-tenant`) stays linked whatever its installations do, since some of
-- them may predate their recording.
--
-- KEYS[1] orgs      hash  org id -> JSON {name, platforms, created}
-- KEYS[2] teams     hash  tenant id -> org id
-- KEYS[3] former    hash  tenant id -> the org id it had when it was unlinked
-- KEYS[4] installs  set   the tenant's installations (conversation ids)
-- KEYS[5] links     set   the org's entries ("teams|X"): the org the caller
--                         read (ARGV[4]), checked here
-- KEYS[6] self      hash  tenant id -> org id, when an install made the link
-- ARGV[1] "add" | "remove", ARGV[2] tenant id, ARGV[3] conversation id,
-- ARGV[4] the org the caller read: the tenant's owner, else (add) its
--         former org, else ""
-- ARGV[5] (add) the organization an install of this tenant creates: a
--         link to it is the install's
--
-- Returns {"linked", org, "1"|"0" (the installation is new / was known)},
-- {"relinked", org}, {"unlinked", org}, {"none"} (not linked, nothing
-- recorded), or {"stale"}: the caller read before another change and reads
-- again (nothing was written).
local mode, tenant, conv, expect = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local member = 'teams|' .. tenant

-- platforms keeps an org record's platform list in step with its links.
local function platforms(id)
  local raw = redis.call('HGET', KEYS[1], id)
  if not raw then return end
  local rec = cjson.decode(raw)
  local seen, list = {}, {}
  for _, m in ipairs(redis.call('SMEMBERS', KEYS[5])) do
    local p = string.match(m, '^(%a+)|')
    if p and not seen[p] then seen[p] = true; list[#list + 1] = p end
  end
  table.sort(list)
  -- None left: the field goes (cjson would write an empty table as {}).
  if #list == 0 then rec.platforms = nil else rec.platforms = list end
  redis.call('HSET', KEYS[1], id, cjson.encode(rec))
end

local owner = redis.call('HGET', KEYS[2], tenant)
if mode == 'add' then
  if owner then
    if owner ~= expect then return {'stale'} end
    local added = redis.call('SADD', KEYS[4], conv)
    redis.call('HDEL', KEYS[3], tenant)
    if owner == ARGV[5] then redis.call('HSET', KEYS[6], tenant, owner) end
    return {'linked', owner, tostring(added)}
  end
  local former = redis.call('HGET', KEYS[3], tenant)
  if former and redis.call('HEXISTS', KEYS[1], former) == 1 then
    if former ~= expect then return {'stale'} end
    redis.call('HSET', KEYS[2], tenant, former)
    redis.call('SADD', KEYS[5], member)
    platforms(former)
    redis.call('DEL', KEYS[4])
    redis.call('SADD', KEYS[4], conv)
    redis.call('HDEL', KEYS[3], tenant)
    redis.call('HSET', KEYS[6], tenant, former)
    return {'relinked', former}
  end
  if expect ~= '' and expect ~= former then return {'stale'} end
  -- Installations recorded for an organization since deleted are void.
  redis.call('DEL', KEYS[4])
  redis.call('HDEL', KEYS[6], tenant)
  if former then redis.call('HDEL', KEYS[3], tenant) end
  return {'none'}
end

-- remove
if not owner then
  redis.call('SREM', KEYS[4], conv)
  return {'none'}
end
if owner ~= expect then return {'stale'} end
-- An installation usher never recorded (one from before it recorded them)
-- says nothing about the others: only the last recorded one unlinks.
if redis.call('SREM', KEYS[4], conv) == 0 or redis.call('SCARD', KEYS[4]) > 0
    or redis.call('HGET', KEYS[6], tenant) ~= owner then
  return {'linked', owner, '0'}
end
redis.call('HDEL', KEYS[6], tenant)
redis.call('HDEL', KEYS[2], tenant)
redis.call('SREM', KEYS[5], member)
platforms(owner)
redis.call('HSET', KEYS[3], tenant, owner)
return {'unlinked', owner}
