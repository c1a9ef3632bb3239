--[[
  Writes fields of a collection map (one hash), keeping fields that exist unless told to overwrite,
  so a re-run migration never replaces newer data by accident.
  KEYS[1] the map's hash
  ARGV[1] '1' to overwrite existing fields, '0' to keep them (HSETNX)
  ARGV[2..] field, value pairs
  Returns the number of fields written.
]]
local overwrite = ARGV[1] == '1'
local written = 0
for i = 2, #ARGV, 2 do
  if overwrite then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    written = written + 1
  else
    written = written + redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return written
