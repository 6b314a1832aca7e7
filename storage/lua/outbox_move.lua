-- outbox_move.lua: take a claimed job out of the stream and put it in the
-- delayed set (retry later) or the dead letters, atomically, so that it is
-- never both pending and moved, nor lost between the two.
-- KEYS[1] stream, KEYS[2] destination (zset or stream); ARGV[1] group,
-- ARGV[2] entry id, ARGV[3] 'later' or 'dead', ARGV[4] score (ms) or reason,
-- ARGV[5] job JSON (later) / platform (dead), ARGV[6] channel, ARGV[7] payload, ARGV[8] attempt
if ARGV[2] ~= '' then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[1], ARGV[2])
end
if ARGV[3] == 'later' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
else
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', '10000', '*', 'reason', ARGV[4], 'platform', ARGV[5], 'channel', ARGV[6], 'payload', ARGV[7], 'attempt', ARGV[8])
end
return 1
