--[[
  Writes a cache value, optionally only if the key still holds what the writer staked before
  loading (so a value invalidated while it was loaded is never written back), and publishes the
  L1 eviction in the same step, from the node that owns the key: another instance can only hear
  the eviction after the write is visible, and the writer pays one round trip for both.
  KEYS[1] the value key
  ARGV[1] the encoded value
  ARGV[2] time to live in milliseconds (0: none)
  ARGV[3] guard: "" (write unconditionally), "eq" (the key must hold exactly ARGV[4]: this load's
          marker) or "sha" (SHA1 of the key's value must be ARGV[4]: the value seen before loading)
  ARGV[4] what the guard expects
  ARGV[5] the bus message to publish ("" for none)
  ARGV[6] the bus channel's logical name; the key prefix is taken from KEYS[1] (ARGV[7] is the
          logical key's length), so the channel gets the same prefix as the engine gives channels
  ARGV[7] length of KEYS[1] without the prefix
  Returns 1 when written (and published), 0 when the guard refused the write.
]]
local guard = ARGV[3]
if guard ~= '' then
  local current = redis.call('GET', KEYS[1])
  if current == false then return 0 end
  if guard == 'eq' and current ~= ARGV[4] then return 0 end
  if guard == 'sha' and redis.sha1hex(current) ~= ARGV[4] then return 0 end
end
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
else
  redis.call('SET', KEYS[1], ARGV[1])
end
if ARGV[5] ~= '' then
  local prefix = string.sub(KEYS[1], 1, string.len(KEYS[1]) - tonumber(ARGV[7]))
  redis.call('PUBLISH', prefix .. ARGV[6], ARGV[5])
end
return 1
