--[[
  The user's socket set, as presence-sync.lua, keeping the user's status with it: the status lives
  as long as the user's longest-lived socket entry and goes when the last one does.
  KEYS[1] the user's socket set `presence:u:{pu:<user>}`
  KEYS[2] the user's status `presence:s:{pu:<user>}` (same hash tag)
  ARGV as presence-sync.lua; ARGV[2] may also be '2': reply with the user's status
  Returns as presence-sync.lua; with ARGV[2] == '2', { liveCount } or { liveCount, status }.
]]
--- @include "presence-apply"
if live == 0 then
  redis.call('DEL', KEYS[2])
else
  redis.call('PEXPIRE', KEYS[2], math.max(1, top - now))
  if ARGV[2] == '2' then
    local status = redis.call('GET', KEYS[2])
    if status then
      reply[2] = status
    end
  end
end
return reply
