-- teams_recipient.lua: a Teams delivery's look-up in one round trip.
-- KEYS[1] is the email index (usher:{org}:teams:email:EMAIL) when ARGV[1]
-- (the Entra object id the origin knows) is empty, else the user's
-- reference; ARGV[2] and ARGV[3] are the reference's and the unreachable
-- mark's key prefixes (the org's hash tag, as KEYS[1]: one cluster slot).
-- Returns {object id, unreachable 0/1, reference or false}; {'', 0, false}
-- when the email is not indexed.
local aad = ARGV[1]
if aad == '' then
  aad = redis.call('GET', KEYS[1])
  if not aad then return {'', 0, false} end
end
local un = redis.call('EXISTS', ARGV[3] .. aad)
return {aad, un, redis.call('GET', ARGV[2] .. aad)}
