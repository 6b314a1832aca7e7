-- slackdir_put.lua: apply Slack users to an organization's directory of a
-- workspace (storage/slackdir.go), a users.list page or one team_join /
-- user_change event. KEYS[1] email -> user id, KEYS[2] user id -> email
-- (so that a changed email drops the old one), KEYS[3] the directory's
-- facts (built: ms of the last complete users.list). ARGV: triples
-- (user id, email key or "", "1" a person usher may write to / "0" not:
-- deleted, a bot, no email). Returns how many people the directory has.
for i = 1, #ARGV, 3 do
  local uid, email, active = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local old = redis.call('HGET', KEYS[2], uid)
  if old and old ~= email and redis.call('HGET', KEYS[1], old) == uid then
    redis.call('HDEL', KEYS[1], old)
  end
  if active == '1' and email ~= '' then
    redis.call('HSET', KEYS[1], email, uid)
    redis.call('HSET', KEYS[2], uid, email)
  else
    if old then redis.call('HDEL', KEYS[2], uid) end
    if email ~= '' and redis.call('HGET', KEYS[1], email) == uid then
      redis.call('HDEL', KEYS[1], email)
    end
  end
end
return redis.call('HLEN', KEYS[1])
