--[[
  The jobs one API key has submitted that have not ended yet (MAX_ACTIVE_JOBS_PER_KEY), shared by
  every replica: a sorted set of job ids, each scored with when it was admitted (ms, Redis's
  clock). A submission's jobs (one, or a batch's n) are admitted all or none, in one step, so two
  replicas cannot both take the last places.

  A job leaves the set when it ends, whoever ends it (a worker, a cancel, the producer watchdog,
  an external job's producer): every process's EventPublisher, once a terminal event is written,
  removes it (ZREM, jobs/active-jobs.ts). That is a command of its own, apart from the end (the
  job's keys live in another Cluster slot), so a crash in between leaks a member; the API mends
  that by pruning the ended and expired jobs of a key that is at its limit (at most once a minute
  per key, limits/active-jobs.ts). The score lets it skip jobs admitted a moment ago, whose first
  event may not be written yet.

  KEYS[1] the key's set    ARGV[1] the limit (> 0)    ARGV[2..] the job ids to admit

  Returns {1, members after} when admitted, else {0, members} (nothing added).
]]
local limit = tonumber(ARGV[1])
local held = redis.call('ZCARD', KEYS[1])
local wanted = #ARGV - 1
if held + wanted > limit then
  return {0, held}
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local entries = {}
for i = 2, #ARGV do
  entries[#entries + 1] = now
  entries[#entries + 1] = ARGV[i]
end
-- In slices: unpack() has a limit on the number of values it can return.
for at = 1, #entries, 1000 do
  redis.call('ZADD', KEYS[1], unpack(entries, at, math.min(at + 999, #entries)))
end
return {1, redis.call('ZCARD', KEYS[1])}
