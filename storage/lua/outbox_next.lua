-- outbox_next.lua: when an organization's outbox next has work for a worker,
-- from its own keys (its slot). For each lane, KEYS[2i-1] the stream and
-- KEYS[2i] its delayed zset; ARGV[1] the group, ARGV[2] the lease (ms).
-- Returns {1 if some entry was never read else 0, the earliest retry time
-- (ms) or -1, ms until the first pending entry may be reclaimed or -1}.
--
-- A stream holds only entries not yet done (Done and Later delete them), so
-- entries beyond those pending were never read. Pending ones held by a
-- consumer are reclaimed once idle for a lease (XAUTOCLAIM in Claim): the
-- oldest few say when. A stream without the group (never set up) counts
-- every entry as unread: Claim creates the group on first use.
local unread, retry, reclaim = 0, -1, -1
local lease = tonumber(ARGV[2])
for i = 1, #KEYS, 2 do
  local n = redis.call('XLEN', KEYS[i])
  if n > 0 then
    local ok, sum = pcall(redis.call, 'XPENDING', KEYS[i], ARGV[1])
    if not ok then
      unread = 1
    else
      if n > tonumber(sum[1]) then unread = 1 end
      if tonumber(sum[1]) > 0 then
        for _, e in ipairs(redis.call('XPENDING', KEYS[i], ARGV[1], '-', '+', 10)) do
          local wait = math.max(0, lease - tonumber(e[3]))
          if reclaim < 0 or wait < reclaim then reclaim = wait end
        end
      end
    end
  end
  local head = redis.call('ZRANGE', KEYS[i + 1], 0, 0, 'WITHSCORES')
  if head[2] and (retry < 0 or tonumber(head[2]) < retry) then retry = tonumber(head[2]) end
end
return {unread, retry, reclaim}
