--[[
  Counts live sessions: the entries of the given groups' live sets whose idle expiry is still ahead.
  Expired sessions drop out of the count by their score, with no script having to run for them;
  writers trim them later.
  KEYS[1] a group's live set `sess:{s:<group>}:live`; n groups pass KEYS[1]..KEYS[n]. On a Cluster
          that is one group per call (each group is its own hash tag); on a single Redis all of them
  Returns the number of live sessions in those groups.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local total = 0
for i = 1, #KEYS do total = total + redis.call('ZCOUNT', KEYS[i], '(' .. now, '+inf') end
return total
