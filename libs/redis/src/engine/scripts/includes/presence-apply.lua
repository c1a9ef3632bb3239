-- Shared by the presence scripts: brings the presence set KEYS[1] up to date on the Redis clock.
-- Entries scored at or before now have expired (their instance stopped refreshing them) and go;
-- ARGV[4 .. 3 + ARGV[3]] are (re)scored now + ARGV[1]; the rest of ARGV is removed. The set lives
-- as long as its longest-lived entry. Leaves `now`, `live` (entries left), `top` (the latest
-- expiry, 0 when none) and `reply` ({ live } or, with ARGV[2] == '1', { live, members sorted }).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local set = KEYS[1]
local nadd = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', set, '-inf', now)
local expires = now + tonumber(ARGV[1])
for i = 4, 3 + nadd do
  redis.call('ZADD', set, expires, ARGV[i])
end
for i = 4 + nadd, #ARGV do
  redis.call('ZREM', set, ARGV[i])
end
local live = redis.call('ZCARD', set)
local top = 0
if live > 0 then
  top = tonumber(redis.call('ZRANGE', set, -1, -1, 'WITHSCORES')[2])
  redis.call('PEXPIRE', set, math.max(1, top - now))
end
local reply = { live }
if ARGV[2] == '1' then
  -- Sorted by member, not by score: equal on every clock, and what callers list.
  local members = redis.call('ZRANGE', set, 0, -1)
  table.sort(members)
  for i = 1, #members do
    reply[i + 1] = members[i]
  end
end
