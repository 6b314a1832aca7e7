-- directory_link.lua: register an organization and/or link chat tenants to
-- it, all or nothing. Every key is the directory's ({_directory}), so this
-- runs in one slot under Redis Cluster; it never touches an organization's
-- own keys.
--
-- KEYS[1] orgs   hash  org id -> JSON {name, platforms, created}
-- KEYS[2] slack  hash  "ENTERPRISE|TEAM" -> org id
-- KEYS[3] teams  hash  tenant id -> org id
-- KEYS[4] links  set   this org's entries, "slack|E|T" / "teams|X"
-- ARGV[1] mode: "create" (the org must not exist yet), "ensure" (register
--         it when missing, else leave it), "link" (the org must exist)
-- ARGV[2] org id, ARGV[3] the org's JSON (create, ensure)
-- ARGV[4..] tenants, two each: platform ("slack"|"teams") and hash field;
--         the link member is "platform|field"
--
-- Returns {"ok", created ("0"|"1")}, or a refusal that changed nothing:
-- {"exists", json}, {"missing"}, {"taken", platform, field, owner id}.
local mode, id, json = ARGV[1], ARGV[2], ARGV[3]
local current = redis.call('HGET', KEYS[1], id)
if mode == 'create' and current then
  -- The same create re-sent (go-redis re-sends a call whose reply timed
  -- out) finds its own record, platforms since filled in: it goes on as a
  -- link of the same tenants, which are then all its own (a no-op).
  local had, want = cjson.decode(current), cjson.decode(json)
  if had.name ~= want.name or had.created ~= want.created then return {'exists', current} end
end
if mode == 'link' and not current then return {'missing'} end

local fresh = {}
for i = 4, #ARGV, 2 do
  local key = ARGV[i] == 'slack' and KEYS[2] or KEYS[3]
  local owner = redis.call('HGET', key, ARGV[i + 1])
  if owner and owner ~= id then return {'taken', ARGV[i], ARGV[i + 1], owner} end
  if not owner then fresh[#fresh + 1] = i end
end

local created = '0'
if not current and mode ~= 'link' then
  redis.call('HSET', KEYS[1], id, json)
  current, created = json, '1'
end
if #fresh == 0 then return {'ok', created} end

local rec = cjson.decode(current)
local platforms = rec.platforms
if type(platforms) ~= 'table' then platforms = {} end
for _, i in ipairs(fresh) do
  local key = ARGV[i] == 'slack' and KEYS[2] or KEYS[3]
  redis.call('HSET', key, ARGV[i + 1], id)
  redis.call('SADD', KEYS[4], ARGV[i] .. '|' .. ARGV[i + 1])
  local known = false
  for _, p in ipairs(platforms) do if p == ARGV[i] then known = true end end
  if not known then platforms[#platforms + 1] = ARGV[i] end
end
table.sort(platforms)
rec.platforms = platforms -- never empty here, so cjson writes an array
redis.call('HSET', KEYS[1], id, cjson.encode(rec))
return {'ok', created}
