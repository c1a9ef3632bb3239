--[[
  Ends every session of a user except, optionally, one (e.g. "log out my other devices").
  KEYS[1] the user's key base `sess:{u:<id>}:` (see session-create.lua): touches `idx` and, for each
          indexed session, `s:<hash>`, `f:<family>` and `r:<hash>` under it
  ARGV[1] '' or the hash of the session to keep
  ARGV[2] '' (now) or, when replayed after an outage, the moment on the Redis clock the outage began
  ARGV[3] how long to keep the revocation epoch, ms (the absolute session timeout: no creation older
          than that can be replayed anyway)
  Sets the user's revocation epoch `ep` (epoch ms, never lowered): a creation replayed from an
  outage that began before it is refused by session-create.lua.
  Returns the number of live sessions removed.
]]
local base = KEYS[1]
local idx = base .. 'idx'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ep = now
if ARGV[2] ~= nil and ARGV[2] ~= '' then ep = tonumber(ARGV[2]) end
ep = math.max(ep, tonumber(redis.call('GET', base .. 'ep') or '-1'))
local keep = math.max(tonumber(ARGV[3] or '0'), redis.call('PTTL', base .. 'ep'), 1)
redis.call('SET', base .. 'ep', ep, 'PX', keep)

--- @include "session-kill"

local removed = 0
for _, h in ipairs(redis.call('ZRANGE', idx, 0, -1)) do
  if h ~= ARGV[1] then removed = removed + kill(h) end
end
return removed
