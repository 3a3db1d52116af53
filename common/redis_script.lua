-- The RedisStore's server-side half (see common/redis_store.h): every store
-- step is one call of this script, so it costs one round trip and is atomic
-- across all the hosts of a fleet. It follows common/store_logic.cc to the
-- letter.
--
-- Record hash (KEYS "...:s"): f = failures, b = 1 when blocked, e = epoch
-- second at which the record stops mattering (0 = never), g = the
-- counter's generation (common/store.h: Generation; absent: 0, and the
-- next count draws one). Block history
-- (KEYS "...:h"): sorted set of block times. One clock decides for the
-- whole fleet: the Redis server's (TIME), when ARGV[2] is 'server'; a test
-- may pass its own time instead. Callers pass lengths, never absolute
-- times, and every operation that returns a time (an until) also returns,
-- last, the `now` it used, from which the caller computes what is left.
--
-- ARGV[1] = operation, ARGV[2] = 'server' or now, ARGV[3] = event channel,
-- ARGV[4] = host name of the server, ARGV[5] = PAM service; the rest
-- depends on the operation.
--
-- Remembered hosts (common/remember.h): user U's list is the sorted set
-- (KEYS "...{remember:U}:r") of member host, score until. The operations
-- get, fail and success end their ARGV with: user index, pair index
-- (1-based indexes of the subjects U and U@H, 0 = none), H, remember
-- seconds (get without a pair may leave them out); with a pair, their last
-- KEY is U's set. They mark each subject
-- exempt (1) or not (0): U when H is remembered at now, else U@H. Exempt
-- subjects take no part in the refusal, and an exempt pair is not counted.
local op = ARGV[1]
local now
if ARGV[2] == 'server' then
  now = tonumber(redis.call('TIME')[1])
else
  now = tonumber(ARGV[2])
end
local channel, origin, service = ARGV[3], ARGV[4], ARGV[5]

local function int(x) return string.format('%d', x) end

-- failures, blocked (0/1), until, generation of a record at now.
local function state(key)
  local v = redis.call('HMGET', key, 'f', 'b', 'e', 'g')
  if not v[1] then return 0, 0, 0, 0 end
  local f, b, e = tonumber(v[1]), tonumber(v[2]), tonumber(v[3])
  if e ~= 0 and e <= now then return 0, 0, 0, 0 end
  local g = tonumber(v[4]) or 0
  if g < 0 or g > 4294967295 or g ~= math.floor(g) then g = 0 end
  if b == 1 then return f, 1, e, g end
  return f, 0, 0, g
end

local function put(key, f, b, e, g)
  if e ~= 0 and e <= now then
    redis.call('DEL', key)
    return
  end
  redis.call('HSET', key, 'f', int(f), 'b', int(b), 'e', int(e),
             'g', int(g or 0))
  if e == 0 then
    redis.call('PERSIST', key)
  else
    redis.call('EXPIRE', key, int(e - now))
  end
end

local function add_history(hkey, hist)
  local member = int(now) .. '#' .. int(redis.call('ZCOUNT', hkey, now, now) + 1)
  redis.call('ZADD', hkey, int(now), member)
  redis.call('EXPIRE', hkey, int(math.max(hist, 1)))
end

local function publish(event, kind, subject, untl)
  if channel == '' then return end
  redis.call('PUBLISH', channel, cjson.encode({
    event = event, kind = kind, subject = subject, ['until'] = untl,
    host = origin, service = service, time = now}))
end

-- The pair index of the trailing ARGV (see the top); get may leave them
-- out when there is no pair.
local function pair_index()
  if op == 'get' and #ARGV < 9 then return 0 end
  return tonumber(ARGV[#ARGV - 2])
end

-- The exempt flags of the n subjects (see the top), from the trailing ARGV.
local function exempt_flags(n)
  local pair_i = pair_index()
  local user_i = 0
  if pair_i > 0 then user_i = tonumber(ARGV[#ARGV - 3]) end
  local exempt = {}
  for i = 1, n do exempt[i] = 0 end
  if pair_i == 0 then return exempt end
  local score = redis.call('ZSCORE', KEYS[#KEYS], ARGV[#ARGV - 1])
  if score and tonumber(score) > now then
    if user_i > 0 then exempt[user_i] = 1 end
  else
    exempt[pair_i] = 1
  end
  return exempt
end

-- Number of subject keys of get, fail and success: all but U's set.
local function subject_keys()
  if pair_index() == 0 then return #KEYS end
  return #KEYS - 1
end

-- Refused under rule, over the blocked flags of the subjects not exempt.
local function refused_by(rule, blocked, exempt)
  local any, all, counted = false, true, false
  for i = 1, #blocked do
    if exempt[i] == 0 then
      counted = true
      if blocked[i] == 1 then any = true else all = false end
    end
  end
  return counted and ((rule == 'any' and any) or (rule == 'all' and all))
end

-- Remembers host H for U until the start of the hour after the one in
-- which now + seconds falls (common/remember.h: RememberUntil; Lua's % is
-- a floor modulo), drops expired entries and keeps the 16 that end last
-- (RememberHost).
local function remember(rkey, host, seconds)
  local t = now + seconds
  redis.call('ZADD', rkey, int(t - t % 3600 + 3600), host)
  redis.call('ZREMRANGEBYSCORE', rkey, '-inf', int(now))
  local n = redis.call('ZCARD', rkey)
  if n > 16 then redis.call('ZREMRANGEBYRANK', rkey, 0, n - 17) end
  local last = redis.call('ZRANGE', rkey, -1, -1, 'WITHSCORES')
  redis.call('EXPIRE', rkey, int(math.max(tonumber(last[2]) - now, 1)))
end

if op == 'get' then
  -- KEYS: record keys (then U's set, see the top). Returns f, b, until,
  -- exempt for each, then now.
  local n = subject_keys()
  local exempt = exempt_flags(n)
  local out = {}
  for i = 1, n do
    local f, b, u = state(KEYS[i])
    out[#out + 1] = f; out[#out + 1] = b; out[#out + 1] = u
    out[#out + 1] = exempt[i]
  end
  out[#out + 1] = now
  return out

elseif op == 'fail' then
  -- KEYS: record, history for each subject. ARGV: rule (any, all, never),
  -- mode (count, provisional, conclude: FailureMode in common/store.h),
  -- attempt_ttl, history_seconds, n, n lengths, then limit, kind, name,
  -- provisional generation (conclude: FailureRequest::provisional) and the
  -- generation a counter that starts takes, for each subject (then the
  -- remembered-hosts ARGV, see the top). Returns refused, then f, b, until,
  -- newly_blocked, exempt, counted (FailureOutcome::counted) for each, then
  -- now. A refused attempt changes nothing.
  local rule, mode = ARGV[6], ARGV[7]
  local ttl, hist, n = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
  local base = 10 + n
  local count = subject_keys() / 2
  local exempt = exempt_flags(count)
  local out = {0}
  local blocked = {}
  for i = 1, count do
    local _, b = state(KEYS[2 * i - 1])
    blocked[i] = b
  end
  if refused_by(rule, blocked, exempt) then
    out[1] = 1
    for i = 1, count do
      local f, b, u = state(KEYS[2 * i - 1])
      out[#out + 1] = f; out[#out + 1] = b; out[#out + 1] = u
      out[#out + 1] = 0; out[#out + 1] = exempt[i]; out[#out + 1] = 0
    end
    out[#out + 1] = now
    return out
  end
  for i = 1, count do
    local skey, hkey = KEYS[2 * i - 1], KEYS[2 * i]
    local a = base + 5 * (i - 1)
    local limit, kind, name = tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3]
    local provisional, fresh = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
    local f, b, u, g = state(skey)
    local newly, counted = 0, 0
    -- A conclusion whose provisional count is not on this counter (none
    -- landed here, or a reset or the counter's end took it) counts now.
    local m = mode
    if m == 'conclude' and (provisional == 0 or g ~= provisional) then
      m = 'count'
    end
    if g == 0 then g = fresh end
    if b == 0 and not (kind == 'pair' and exempt[i] == 1) then
      -- count blocks the failure that goes above the limit; provisional
      -- and conclude block a counter above it already.
      local blocks
      if m == 'count' then
        f = f + 1
        counted = g
        blocks = f > limit
      else
        blocks = f > limit
        if not blocks and m == 'provisional' then
          f = f + 1
          counted = g
        end
      end
      local e = 0
      if blocks then
        local previous = redis.call('ZCOUNT', hkey, '(' .. int(now - hist), '+inf')
        local length = 0
        if n > 0 then length = tonumber(ARGV[10 + math.min(previous, n - 1) + 1]) end
        if length ~= 0 then e = now + length end
        b, u, newly = 1, e, 1
        add_history(hkey, hist)
        publish('block', kind, name, e)
      elseif ttl ~= 0 then
        e = now + ttl
      end
      -- A conclusion that neither counts nor blocks changes nothing: its
      -- count is there, the counter's life unchanged.
      if blocks or m ~= 'conclude' then put(skey, f, b, e, g) end
    end
    out[#out + 1] = f; out[#out + 1] = b; out[#out + 1] = u
    out[#out + 1] = newly; out[#out + 1] = exempt[i]; out[#out + 1] = counted
  end
  out[#out + 1] = now
  return out

elseif op == 'success' then
  -- KEYS: record keys. ARGV: rule (any, all, never), then reset (0/1), kind,
  -- name, take-back generation (0 = none) for each (then the
  -- remembered-hosts ARGV, see the top). Returns refused, then f, b, until
  -- before, exempt, for each, then now. An exempt user keeps its block; a
  -- subject not reset whose live counter, not blocked, has the take-back
  -- generation loses one failure (the success's own provisional count);
  -- with a pair and remember seconds > 0, H is remembered for U.
  local rule = ARGV[6]
  local count = subject_keys()
  local exempt = exempt_flags(count)
  local states, blocked, out = {}, {}, {0}
  for i = 1, count do
    local f, b, u, g = state(KEYS[i])
    states[i] = {f, b, u, g}
    blocked[i] = b
    out[#out + 1] = f; out[#out + 1] = b; out[#out + 1] = u
    out[#out + 1] = exempt[i]
  end
  if refused_by(rule, blocked, exempt) then
    out[1] = 1
    out[#out + 1] = now
    return out
  end
  for i = 1, count do
    local a = 6 + 4 * (i - 1)
    local f, b, g = states[i][1], states[i][2], states[i][4]
    local keeps = ARGV[a + 2] == 'user' and exempt[i] == 1 and b == 1
    local back = tonumber(ARGV[a + 4])
    if ARGV[a + 1] == '1' and not keeps then
      if f > 0 or b == 1 then
        redis.call('DEL', KEYS[i])
        if b == 1 then publish('unblock', ARGV[a + 2], ARGV[a + 3], 0) end
      end
    elseif back ~= 0 and b == 0 and f > 0 and g == back then
      -- The success's own provisional count back; the counter's life
      -- unchanged.
      if f == 1 then
        redis.call('DEL', KEYS[i])
      else
        redis.call('HSET', KEYS[i], 'f', int(f - 1))
      end
    end
  end
  local seconds = tonumber(ARGV[#ARGV])
  if tonumber(ARGV[#ARGV - 2]) > 0 and seconds > 0 then
    remember(KEYS[#KEYS], ARGV[#ARGV - 1], seconds)
  end
  out[#out + 1] = now
  return out

elseif op == 'forget' then
  -- KEYS: U's set. ARGV: H, or '' for every host. Returns how many hosts
  -- remembered at now were forgotten.
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', int(now))
  if ARGV[6] ~= '' then return redis.call('ZREM', KEYS[1], ARGV[6]) end
  local n = redis.call('ZCARD', KEYS[1])
  redis.call('DEL', KEYS[1])
  return n

elseif op == 'block' then
  -- KEYS: record, history. ARGV: length ('forever': permanent),
  -- history_seconds, kind, name. Returns until, now.
  local untl, hist = 0, tonumber(ARGV[7])
  if ARGV[6] ~= 'forever' then untl = now + tonumber(ARGV[6]) end
  local f = state(KEYS[1])
  put(KEYS[1], f, 1, untl)
  add_history(KEYS[2], hist)
  publish('block', ARGV[8], ARGV[9], untl)
  return {untl, now}

elseif op == 'unblock' then
  -- KEYS: record keys. ARGV: only_blocked (0/1), then kind, name for each.
  -- Deletes each record (only the blocked ones when only_blocked) and
  -- returns 0/1 per key: was it blocked.
  local only_blocked = ARGV[6] == '1'
  local out = {}
  for i = 1, #KEYS do
    local _, b = state(KEYS[i])
    if b == 1 or not only_blocked then redis.call('DEL', KEYS[i]) end
    if b == 1 then publish('unblock', ARGV[7 + 2 * (i - 1)], ARGV[8 + 2 * (i - 1)], 0) end
    out[i] = b
  end
  return out

elseif op == 'history' then
  -- KEYS: history keys. ARGV: window (seconds), remove (0/1). Counts (or
  -- removes) block times after (or at and before) now - window.
  local since, remove = int(now - tonumber(ARGV[6])), ARGV[7] == '1'
  local total = 0
  for i = 1, #KEYS do
    if remove then
      total = total + redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', since)
    else
      total = total + redis.call('ZCOUNT', KEYS[i], '(' .. since, '+inf')
    end
  end
  return total

elseif op == 'prune' then
  -- KEYS: record keys. Deletes those that no longer matter at now.
  local removed = 0
  for i = 1, #KEYS do
    local e = tonumber(redis.call('HGET', KEYS[i], 'e'))
    if e and e ~= 0 and e <= now then
      redis.call('DEL', KEYS[i])
      removed = removed + 1
    end
  end
  return removed
end
return redis.error_reply('pam_defender: unknown operation ' .. tostring(op))
