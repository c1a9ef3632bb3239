--[[
  Decides several requests of one subject, in order, against the same policies: exactly as that many
  calls of rate-limit-check.lua one after the other, in one round trip. The rate limiter sends the
  decisions issued for one subject in the same event-loop turn this way.
  KEYS[1] the first policy's counter; n policies pass n keys (KEYS[1]..KEYS[n]), all under the
          subject's hash tag (rl:{<subject>}:...) so they live in one Cluster slot
  ARGV[1] now in milliseconds, or 0 to read the server clock (TIME); only tests pass a value
  ARGV[2 + 4(i-1)] .. ARGV[5 + 4(i-1)] policy i: algorithm, limit, window ms, cost (as rate-limit-check.lua;
          the cost here is ignored, each request's comes below)
  ARGV[2 + 4n] R, the number of requests
  ARGV[3 + 4n + (r-1)n + (i-1)] request r's cost for policy i
  Returns { 1 (from Redis; the TypeScript twin returns 0),
            then per request r: 1 if allowed and charged else 0, then per policy the four values of
            rate-limit-check.lua (allows, remaining, reset ms, retry ms) }
]]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local n = #KEYS
local requests = tonumber(ARGV[2 + 4 * n])
local reply = { 1 }
--- @include "rate-limit-decide"
for r = 1, requests do
  local first = 3 + 4 * n + (r - 1) * n
  rate_limit_decide(now, n, function(i) return first + i - 1 end, reply)
end
return reply
