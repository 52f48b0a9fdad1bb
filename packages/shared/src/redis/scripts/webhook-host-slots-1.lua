--[[
  Concurrent webhook deliveries to one host, counted across worker processes
  (WEBHOOK_CONCURRENCY_PER_HOST). Each delivery under way holds a lease, which it releases when
  it ends (ZREM, no script needed); a worker that dies mid-delivery stops counting once its lease
  runs out, a little after WEBHOOK_TIMEOUT_MS, so no slot is held for ever. The key expires with
  its last lease, so a host nobody delivers to leaves nothing behind.

  KEYS[1] sorted set: delivery id → when its lease runs out (ms, Redis's clock)
  ARGV[1] delivery id     ARGV[2] lease (ms)     ARGV[3] the limit

  Returns 1 when the delivery may go (its lease taken or renewed), 0 when the host already has
  `limit` deliveries under way.
]]
local slots, delivery, lease, limit = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
if not redis.call('ZSCORE', slots, delivery) and redis.call('ZCARD', slots) >= limit then
  return 0
end
redis.call('ZADD', slots, now + lease, delivery)
redis.call('PEXPIRE', slots, lease)
return 1
