--[[
  Adds to a counter that lives for a fixed window from its first increment.
  KEYS[1] the counter key
  ARGV[1] the increment (integer)
  ARGV[2] the window in milliseconds, applied only when the counter is created
  Returns { value after the increment, milliseconds until the counter expires }.
]]
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return { value, ttl }
