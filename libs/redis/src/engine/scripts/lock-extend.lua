--[[
  Renews a lock's lease while the caller still owns it.
  KEYS[1] the lock key
  ARGV[1] the owner's token
  ARGV[2] the new lease in milliseconds
  Returns 1 when the lease was renewed, 0 when the lock is not held with this token.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
