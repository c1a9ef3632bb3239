--[[
  Writes a map, set, leaderboard or list and stamps the collection's "last written" marker in the same
  step. A write made during an outage and replayed on recovery passes the moment the outage began:
  if another writer stamped the marker since then, the write is refused (CONFLICT) instead of
  overwriting, or undoing, what that writer did on Redis meanwhile.
  KEYS[1] the collection's marker `colw:<tenant>:<kind>:{<tenant>/<name>}`: "<epoch ms>:<writer>"
  KEYS[2] the key written (the map's hash, the set, the leaderboard, the list, or one entry of a
          map with per-entry TTL), under the same hash tag as the marker
  ARGV[1] the operation: hset, hdel, sadd, srem, zadd, zrem, lpush, lrem, set (a string with a
          TTL), del, or touch (the marker alone, for a clear that deletes keys itself)
  ARGV[2] the writer: a random id of the instance, so its own writes never conflict with its replay
  ARGV[3] '' for a live write; for a replayed one, a moment on the Redis clock no later than the
          start of its outage, or 'cleared' when its tenant was cleared on Redis since (the replay
          reads the tenant's marker first: it lives in another slot)
  ARGV[4] how long the marker lives after the last write, ms. A replay whose outage began longer
          ago than that finds no marker to check and is refused.
  ARGV[5] '1' to replace what exists, '0' to keep it (hset: HSETNX per field; set: NX)
  ARGV[6] set: the entry's TTL in ms; lpush: the list's cap (0: none), applied in the same step
  ARGV[7..] hset: field, value pairs; zadd: score, member pairs; hdel, sadd, srem, zrem: the
          fields or members; set: the value; lpush: the values (the last ends up first); lrem: the
          value whose every occurrence goes
  Returns how many fields, members or keys the operation wrote or removed (set: 1 or 0; touch: 0;
  lpush: the list's length after the cap), or the error "CONFLICT ..." for a refused replay.
]]
local mark, key, op, writer = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local life = tonumber(ARGV[4])
if ARGV[3] == 'cleared' then
  return redis.error_reply('CONFLICT the collection\'s tenant was cleared on Redis since this write\'s outage began')
end
if ARGV[3] ~= '' then
  local since = tonumber(ARGV[3])
  local last = redis.call('GET', mark)
  if last then
    local at, by = string.match(last, '^(%d+):(.*)$')
    if not at or (by ~= writer and tonumber(at) > since) then
      return redis.error_reply('CONFLICT the collection was written on Redis since this write\'s outage began')
    end
  elseif since < now - life then
    return redis.error_reply('CONFLICT the outage began before the collection\'s last-write marker can tell')
  end
end
redis.call('SET', mark, now .. ':' .. writer, 'PX', life)

local n = 0
if op == 'hset' then
  for i = 7, #ARGV, 2 do
    if ARGV[5] == '1' then
      redis.call('HSET', key, ARGV[i], ARGV[i + 1])
      n = n + 1
    else
      n = n + redis.call('HSETNX', key, ARGV[i], ARGV[i + 1])
    end
  end
elseif op == 'zadd' then
  for i = 7, #ARGV, 2 do n = n + redis.call('ZADD', key, ARGV[i], ARGV[i + 1]) end
elseif op == 'hdel' or op == 'sadd' or op == 'srem' or op == 'zrem' then
  for i = 7, #ARGV do n = n + redis.call(string.upper(op), key, ARGV[i]) end
elseif op == 'lpush' then
  for i = 7, #ARGV do redis.call('LPUSH', key, ARGV[i]) end
  local cap = tonumber(ARGV[6])
  if cap > 0 then redis.call('LTRIM', key, 0, cap - 1) end
  n = redis.call('LLEN', key)
elseif op == 'lrem' then
  n = redis.call('LREM', key, 0, ARGV[7])
elseif op == 'set' then
  if ARGV[5] == '1' then
    redis.call('SET', key, ARGV[7], 'PX', ARGV[6])
    n = 1
  elseif redis.call('SET', key, ARGV[7], 'PX', ARGV[6], 'NX') then
    n = 1
  end
elseif op == 'del' then
  n = redis.call('DEL', key)
elseif op ~= 'touch' then
  return redis.error_reply('ERR collection-write: unknown operation ' .. op)
end
return n
