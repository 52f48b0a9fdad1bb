--[[
  Concurrent streams per client IP, counted across API replicas. Each replica owns one count
  per IP and a lease on it: a replica that dies (or loses Redis) without releasing stops renewing
  its leases, and its streams stop counting once they run out, instead of holding the IP's slots
  for ever. Every op first forgets the replicas whose lease has run out; the IP's two keys expire
  with the last lease, so an IP nobody streams for leaves nothing behind.

  KEYS[1] hash: replica id → streams it holds for this IP
  KEYS[2] sorted set: replica id → when its lease runs out (ms, Redis's clock)
  ARGV[1] op: 'acquire' | 'release' | 'assert'
  ARGV[2] replica id      ARGV[3] lease (ms)
  ARGV[4] acquire: the limit; assert: the replica's true count of streams for this IP

  acquire: one more stream for this replica, unless the IP already holds `limit` among the
           live replicas: {1, total after} or {0, total}.
  release: one stream fewer (never below zero): {1, total after}.
  assert:  sets this replica's count to what it really holds and renews its lease (the replica
           does this for every IP it streams for, every lease/3) — which also mends a release
           lost to a Redis blip: {1, total after}.
]]
local counts, leases = KEYS[1], KEYS[2]
local op, replica, lease = ARGV[1], ARGV[2], tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now)
if #expired > 0 then
  redis.call('HDEL', counts, unpack(expired))
  redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
end

-- Only replicas holding a live lease count.
local function total()
  local live = redis.call('ZRANGE', leases, 0, -1)
  local sum = 0
  if #live > 0 then
    for _, n in ipairs(redis.call('HMGET', counts, unpack(live))) do
      sum = sum + (tonumber(n) or 0)
    end
  end
  return sum
end

local function set(n)
  if n > 0 then
    redis.call('HSET', counts, replica, n)
    redis.call('ZADD', leases, now + lease, replica)
  else
    redis.call('HDEL', counts, replica)
    redis.call('ZREM', leases, replica)
  end
end

local function expire()
  local last = redis.call('ZRANGE', leases, -1, -1, 'WITHSCORES')
  if #last == 0 then
    redis.call('DEL', counts, leases)
  else
    redis.call('PEXPIREAT', counts, last[2])
    redis.call('PEXPIREAT', leases, last[2])
  end
end

local allowed = 1
if op == 'acquire' then
  if total() >= tonumber(ARGV[4]) then
    allowed = 0
  else
    -- a count whose lease ran out was forgotten above: it starts again from zero
    set((tonumber(redis.call('HGET', counts, replica)) or 0) + 1)
  end
elseif op == 'release' then
  local held = tonumber(redis.call('HGET', counts, replica)) or 0
  if held > 1 then
    redis.call('HINCRBY', counts, replica, -1)
  elseif held == 1 then
    set(0)
  end
elseif op == 'assert' then
  set(tonumber(ARGV[4]))
else
  return redis.error_reply('stream-slots: unknown op ' .. tostring(op))
end
expire()
return {allowed, total()}
