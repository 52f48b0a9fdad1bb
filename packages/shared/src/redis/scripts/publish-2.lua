--[[
  Appends one event to a job's Stream, updates its snapshot and wakes its watchers, atomically,
  so the event id, the Stream and the snapshot always agree.

  Guards, enforced here because several producers (workers, the API's cancel) race:
    - nothing is appended after a terminal event: every job has exactly one, and it is last;
    - progress never decreases: a lower value (a retry starting over) is raised to the current.

  Retention: a live job's keys never expire, however long it waits in the queue; its terminal
  event starts the JOB_TTL_SECONDS countdown for the Stream and the snapshot.

  The result as written so far (the fold of the job's delta events) is kept in the snapshot's
  `partial` while the job runs, so GET /v1/jobs/{id} shows it; the producer, which folds as it
  writes, sends it whole with each event that carries text. The terminal event drops it.

  KEYS[1] events Stream    KEYS[2] snapshot hash
  ARGV[1] channel          ARGV[2] status           ARGV[3] progress asked for
  ARGV[4] JSON before the progress value            ARGV[5] JSON after it
  ARGV[6] Stream MAXLEN    ARGV[7] TTL seconds      ARGV[8] event ts (ms)
  ARGV[9] '1' when the event carries text, else ''  ARGV[10] the partial result after it

  Returns {id, progress}, or nil when the job has already ended.
]]
local current = redis.call('HMGET', KEYS[2], 'status', 'progress')
local status = current[1]
if status == 'done' or status == 'error' or status == 'cancelled' then
  return nil
end

local progress = tonumber(ARGV[3])
local floor = tonumber(current[2])
if floor and floor > progress then
  progress = floor
end
progress = string.format('%d', progress)

local data = ARGV[4] .. progress .. ARGV[5]
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[6], '*', 's', ARGV[2], 'd', data)
local snapshot = {'status', ARGV[2], 'progress', progress, 'event', data, 'lastEventId', id, 'updatedAt', ARGV[8]}
if not status then
  -- the job's first event
  snapshot[#snapshot + 1] = 'createdAt'
  snapshot[#snapshot + 1] = ARGV[8]
end
if ARGV[9] == '1' then
  snapshot[#snapshot + 1] = 'partial'
  snapshot[#snapshot + 1] = ARGV[10]
end
redis.call('HSET', KEYS[2], unpack(snapshot))
if ARGV[2] == 'done' or ARGV[2] == 'error' or ARGV[2] == 'cancelled' then
  redis.call('HDEL', KEYS[2], 'partial')
  redis.call('EXPIRE', KEYS[1], ARGV[7])
  redis.call('EXPIRE', KEYS[2], ARGV[7])
end
redis.call('PUBLISH', ARGV[1], id .. ' ' .. ARGV[2] .. ' ' .. data)
return {id, progress}
