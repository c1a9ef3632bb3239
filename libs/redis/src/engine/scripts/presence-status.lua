--[[
  Sets or reads a user's status. A user with no live socket entry has no status: it is dropped,
  never written, so a status cannot outlive the user's presence.
  KEYS[1] the user's socket set `presence:u:{pu:<user>}`
  KEYS[2] the user's status `presence:s:{pu:<user>}` (same hash tag)
  ARGV[1] '1' to set the status to ARGV[2], '2' to set it only when the user has none (an instance
          restoring what it knows after Redis lost it), '0' to read it
  ARGV[2] the status (when setting)
  Returns { 0 } when the user has no live socket, { 1 } when online without a status,
  { 1, status } otherwise.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last == 0 then
  redis.call('DEL', KEYS[2])
  return { 0 }
end
local ttl = math.max(1, tonumber(last[2]) - now)
local status = redis.call('GET', KEYS[2])
if ARGV[1] == '1' or (ARGV[1] == '2' and not status) then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ttl)
  return { 1, ARGV[2] }
end
if not status then
  return { 1 }
end
return { 1, status }
