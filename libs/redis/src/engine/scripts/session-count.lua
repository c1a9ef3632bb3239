--[[
  Counts the live sessions of one group of users: the entries of its live set whose idle expiry is
  still ahead. Expired sessions drop out of the count by their score, with no script having to run
  for them; writers trim them later.
  KEYS[1] the group's live set `sess:{s:<group>}:live`
  Returns the number of live sessions in the group.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
