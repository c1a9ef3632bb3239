--[[
  Releases a lock only while the caller still owns it, so a holder whose lease expired cannot
  delete the lock another instance has since taken.
  KEYS[1] the lock key
  ARGV[1] the owner's token
  Returns 1 when the lock was released, 0 when it was not held with this token.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
