--[[
  The holder of a stampede lock reports that its loader failed: while it still owns the lock, the
  lock's value becomes "!" followed by the error message for a short time, so instances waiting for
  the value get the error instead of loading again at once. Leaves another owner's lock untouched.
  KEYS[1] the lock key
  ARGV[1] the owner's token
  ARGV[2] the owner's token, "!", then the error message (truncated by the caller), so a waiter
          can tell the failure of the holder it waited for from an older one
  ARGV[3] how long waiters may see the error, in milliseconds
  Returns 1 when the lock now carries the error, 0 when the caller no longer owned it.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], '!' .. ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
