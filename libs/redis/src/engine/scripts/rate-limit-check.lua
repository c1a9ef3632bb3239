--[[
  Checks every rate-limit policy of one request against its subject and charges them all only if
  every one allows it: a refused request costs nothing. One call for any number of policies.
  KEYS[1] the first policy's counter; a request with n policies passes n keys (KEYS[1]..KEYS[n]),
          all under the subject's hash tag (rl:{<subject>}:...) so they live in one Cluster slot
  ARGV[1] now in milliseconds, or 0 to read the server clock (TIME); only tests pass a value
  ARGV[2 + 4(i-1)] policy i: algorithm, 1 = sliding window, 2 = fixed window, 3 = token bucket (GCRA)
  ARGV[3 + 4(i-1)] policy i: limit (integer >= 1)
  ARGV[4 + 4(i-1)] policy i: window in milliseconds (integer >= 1)
  ARGV[5 + 4(i-1)] policy i: cost of this request (integer from 1 to the limit)
  Returns { 1 (the answer came from Redis; the TypeScript twin returns 0),
            1 if the request was allowed and charged else 0,
            then per policy: 1 if this policy alone allows it else 0, remaining after this request,
            milliseconds until the quota is whole again, milliseconds until a retry can pass (0 when allowed) }
  Every state is a string of integers, so Lua and the twin compute bit-identical results:
    sliding  "<bucket index>:<hits in that bucket>:<hits in the bucket before>"
    fixed    "<window start ms>:<hits>"
    bucket   "<theoretical arrival time ms>:<fraction in 1/limit ms>"
]]
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local n = #KEYS
local reply = { 1 }
--- @include "rate-limit-decide"
rate_limit_decide(now, n, function(i) return 2 + (i - 1) * 4 + 3 end, reply)
return reply
