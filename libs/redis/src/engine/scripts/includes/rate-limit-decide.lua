-- Decides one request against KEYS[1..n] (policy i's algorithm, limit and window at ARGV[base(i)],
-- ARGV[base(i)+1], ARGV[base(i)+2]; its cost at ARGV[costAt(i)]), charges every key only if all allow,
-- and appends { allowed, then per policy: allows, remaining, reset ms, retry ms } to reply.
local function rate_limit_decide(now, n, costAt, reply)
  local policies = {}
  local allowed = true

  for i = 1, n do
    local base = 2 + (i - 1) * 4
    local algorithm = tonumber(ARGV[base])
    local limit = tonumber(ARGV[base + 1])
    local window = tonumber(ARGV[base + 2])
    local cost = tonumber(ARGV[costAt(i)])
    local raw = redis.call('GET', KEYS[i])
    -- Each branch sets: capacity, used (before) and charged (after this request) in units of
    -- 1/unit of a request; the reset before and after; the retry delay; the state to write.
    local p = {}
    if algorithm == 1 then
      local idx = math.floor(now / window)
      local e = now - idx * window
      local curr, prev = 0, 0
      if raw then
        local si, sc, sp = string.match(raw, '^(%d+):(%d+):(%d+)$')
        si = tonumber(si)
        if si == idx then
          curr, prev = tonumber(sc), tonumber(sp)
        elseif si == idx - 1 then
          prev = tonumber(sc)
        end
      end
      -- Weighted estimate prev * (window - e) / window + curr, scaled by window to stay integral.
      p.unit = window
      p.capacity = limit * window
      p.used = prev * (window - e) + curr * window
      p.charged = p.used + cost * window
      if p.charged <= p.capacity then
        p.retry = 0
      elseif curr + cost <= limit then
        -- The previous bucket's share decays below the bar within this bucket.
        p.retry = window - math.floor((limit - curr - cost) * window / prev) - e
      else
        -- This bucket has to become the previous one, then decay.
        local wait = window - math.floor((limit - cost) * window / curr)
        if wait < 0 then wait = 0 end
        p.retry = window - e + wait
      end
      if curr > 0 then p.reset0 = 2 * window - e elseif prev > 0 then p.reset0 = window - e else p.reset0 = 0 end
      p.reset1 = 2 * window - e
      p.state = idx .. ':' .. (curr + cost) .. ':' .. prev
      p.ttl = 2 * window - e
    elseif algorithm == 2 then
      local start, count = now, 0
      if raw then
        local ss, sc = string.match(raw, '^(%d+):(%d+)$')
        ss = tonumber(ss)
        if ss and now < ss + window then
          start, count = ss, tonumber(sc)
        end
      end
      p.unit = 1
      p.capacity = limit
      p.used = count
      p.charged = count + cost
      if p.charged <= limit then p.retry = 0 else p.retry = start + window - now end
      if count > 0 then p.reset0 = start + window - now else p.reset0 = 0 end
      p.reset1 = start + window - now
      p.state = start .. ':' .. p.charged
      p.ttl = start + window - now
    else
      -- GCRA: one token every window/limit ms, at most limit tokens. The theoretical arrival time
      -- is tm + tf/limit ms; the fraction stays an integer numerator, so no float is ever stored.
      local tm, tf = now, 0
      if raw then
        local sm, sf = string.match(raw, '^(%d+):(%d+)$')
        sm, sf = tonumber(sm), tonumber(sf)
        if sm and (sm > now or (sm == now and sf > 0)) then
          tm, tf = sm, sf
        end
      end
      local step = cost * window
      local nm = tm + math.floor(step / limit)
      local nf = tf + step % limit
      if nf >= limit then
        nf = nf - limit
        nm = nm + 1
      end
      -- Distances of the arrival time ahead of now, in 1/limit ms; a token is window of those.
      p.unit = window
      p.capacity = window * limit
      p.used = (tm - now) * limit + tf
      p.charged = (nm - now) * limit + nf
      if p.charged <= p.capacity then p.retry = 0 else p.retry = math.ceil((p.charged - p.capacity) / limit) end
      p.reset0 = math.ceil(p.used / limit)
      p.reset1 = math.ceil(p.charged / limit)
      p.state = nm .. ':' .. nf
      p.ttl = p.reset1
    end
    if p.retry > 0 then allowed = false end
    policies[i] = p
  end

  reply[#reply + 1] = allowed and 1 or 0
  for i = 1, n do
    local p = policies[i]
    local left
    if allowed then
      left = p.capacity - p.charged
      redis.call('SET', KEYS[i], p.state, 'PX', p.ttl)
    else
      left = p.capacity - p.used
    end
    if left < 0 then left = 0 end
    reply[#reply + 1] = p.retry == 0 and 1 or 0
    reply[#reply + 1] = math.floor(left / p.unit)
    reply[#reply + 1] = allowed and p.reset1 or p.reset0
    reply[#reply + 1] = p.retry
  end
end
