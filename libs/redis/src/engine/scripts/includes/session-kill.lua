-- Ends one session of the user whose key base is `base` (index `idx`): the session hash, its index
-- entry, its family pointer (only if it still points at this session) and its current refresh token.
-- Returns 1 when a session record was removed, 0 when there was none.
local function kill(h)
  local s = base .. 's:' .. h
  local v = redis.call('HMGET', s, 'fam', 'rh')
  local n = redis.call('DEL', s)
  redis.call('ZREM', idx, h)
  if v[1] then
    local f = base .. 'f:' .. v[1]
    if redis.call('GET', f) == h then redis.call('DEL', f) end
  end
  if v[2] then redis.call('DEL', base .. 'r:' .. v[2]) end
  return n
end
