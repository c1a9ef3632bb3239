--[[
  Ends one session: its record, its index entry and its entry in the group's live set. What points
  at it (family pointer, refresh record) is named in the reply for session-forget.lua; until then
  those records lead to a session that no longer exists, which refresh treats as ended.
  KEYS[1] the session `…s:<hash>`    KEYS[2] the user's index `…idx`    KEYS[3] the group's live set
  (all under the user's hash tag, see session-create.lua)
  ARGV[1] session id hash
  Returns { 1 when a live session was removed else 0, its family id or '', its refresh hash or '' }.
]]
local s, idx, live = KEYS[1], KEYS[2], KEYS[3]
local h = ARGV[1]
local v = redis.call('HMGET', s, 'fam', 'rh')
local removed = redis.call('DEL', s)
local indexed = redis.call('ZREM', idx, h)
redis.call('ZREM', live, h)
local alive = 0
if removed == 1 and indexed == 1 then alive = 1 end
return { alive, v[1] or '', v[2] or '' }
