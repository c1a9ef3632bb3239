--[[
  Appends a message to a room's history stream once per message id (mid): a second append of the
  same mid (a retry after a timeout, the replay of an outage write that had reached Redis) stores
  nothing and answers with the entry already there. The mid index holds exactly the mids of the
  entries still in the stream: the entries the cap is about to trim have their mids removed first,
  so the index is bounded by the cap too, and a mid is recognised as long as its message is kept.
  KEYS[1] the room's stream
  KEYS[2] the room's mid index (a hash mid -> stream id), in the stream's hash slot
  ARGV[1] the message id (mid)
  ARGV[2] the cap: the stream keeps its newest ARGV[2] entries (exact MAXLEN =), at least 1
  ARGV[3] when the message was first appended (epoch ms), or '' for now on the Redis clock
  ARGV[4] from
  ARGV[5] body
  Returns {id, ts, from, body, 1} for a new entry, {id, ts, from, body, 0} with what is stored
  when the mid is already in the stream.
]]
local known = redis.call('HGET', KEYS[2], ARGV[1])
-- An index value that is no stream id (written by something else) tells nothing: the mid is unknown.
if known and string.match(known, '^%d+%-%d+$') then
  local found = redis.call('XRANGE', KEYS[1], known, known)
  local stored = {}
  if #found == 1 then
    local fields = found[1][2]
    for i = 1, #fields, 2 do stored[fields[i]] = fields[i + 1] end
  end
  -- Only the entry of this mid answers for it: after the stream was deleted and written again, a
  -- stale index value can name another message that got the same id.
  if stored['mid'] == ARGV[1] then
    return {known, stored['ts'] or '', stored['from'] or '', stored['body'] or '', 0}
  end
  -- The entry went away outside this script (XDEL, DEL of the stream): the index was stale.
end
local cap = tonumber(ARGV[2])
local length = redis.call('XLEN', KEYS[1])
if length >= cap then
  local doomed = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', length - cap + 1)
  for _, entry in ipairs(doomed) do
    local fields = entry[2]
    for i = 1, #fields, 2 do
      if fields[i] == 'mid' then
        -- Only when the index points at this entry: a foreign duplicate must not unindex a kept one.
        if redis.call('HGET', KEYS[2], fields[i + 1]) == entry[1] then redis.call('HDEL', KEYS[2], fields[i + 1]) end
        break
      end
    end
  end
end
local ts = ARGV[3]
if ts == '' then
  local now = redis.call('TIME')
  ts = string.format('%.0f', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '=', cap, '*', 'mid', ARGV[1], 'ts', ts, 'from', ARGV[4], 'body', ARGV[5])
redis.call('HSET', KEYS[2], ARGV[1], id)
return {id, ts, ARGV[4], ARGV[5], 1}
