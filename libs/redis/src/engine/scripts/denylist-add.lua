--[[
  Denies a token until its own expiry plus a clock-skew margin, on the Redis clock.
  KEYS[1] the entry key `sess:dl:<issuer hash>:<jti hash>`
  ARGV[1] the token's expiry in epoch milliseconds
  ARGV[2] the skew margin in milliseconds: verifiers accept a token a while past `exp` (clock
          tolerance, a clock behind Redis's), so the entry must outlive `exp` by that much
  Returns 1 when the entry is kept until then, 0 when that moment has passed (nothing to deny).
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1]) + tonumber(ARGV[2]) - now
if ttl <= 0 then return 0 end
-- A second deny of the same token never shortens the first one.
if redis.call('PTTL', KEYS[1]) >= ttl then return 1 end
redis.call('SET', KEYS[1], '1', 'PX', ttl)
return 1
