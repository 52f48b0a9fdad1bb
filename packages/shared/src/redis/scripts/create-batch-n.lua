--[[
  Creates a batch and all its jobs in one step (docs/api.md, "Batches"): nothing of a batch
  exists until all of it does. Each job gets its first event (`queued`) in its own Stream and
  snapshot, as the publish script writes a job's first event, and in the batch's Stream (marked
  'job:queued'); then the batch's own first event and its aggregates: n jobs, all queued,
  overall progress 0. Every key shares the batch's hash tag: one Cluster slot.

  KEYS[1] batch hash       KEYS[2] batch Stream
  KEYS[1 + 2i] job i's Stream, KEYS[2 + 2i] job i's snapshot, for i = 1 … n
  ARGV[1] ts (ms)          ARGV[2] n                ARGV[3] batch Stream MAXLEN
  ARGV[4] job Stream MAXLEN                         ARGV[5] the batch's first event (JSON)
  ARGV[6] k, then k field/value pairs for the batch hash (owner, callbackUrl, …)
  then m, then m field/value pairs for every job's snapshot (kind, owner)
  then n JSON events, job i's `queued` event
  then n strings, job i's tags as JSON ('' for none: the field is not written)

  Returns {'ok', batch event id, {job i's first event id, …}}, or {'exists'} when the batch id is taken.
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'exists'}
end
local ts = ARGV[1]
local n = tonumber(ARGV[2])
local at = 6
local batch_fields = {}
for i = 1, tonumber(ARGV[at]) * 2 do
  batch_fields[i] = ARGV[at + i]
end
at = at + #batch_fields + 1
local job_fields = {}
for i = 1, tonumber(ARGV[at]) * 2 do
  job_fields[i] = ARGV[at + i]
end
at = at + #job_fields

local job_event_ids = {}
for i = 1, n do
  local data = ARGV[at + i]
  local id = redis.call('XADD', KEYS[1 + 2 * i], 'MAXLEN', '~', ARGV[4], '*', 's', 'queued', 'd', data)
  job_event_ids[i] = id
  -- streamBytes: the bytes of event JSON added to the job's Stream, as publish-6.lua counts them
  redis.call('HSET', KEYS[2 + 2 * i], 'status', 'queued', 'progress', 0, 'event', data, 'lastEventId', id, 'updatedAt', ts,
    'createdAt', ts, 'streamBytes', #data, unpack(job_fields))
  local tags = ARGV[at + n + i]
  if tags ~= nil and tags ~= '' then
    redis.call('HSET', KEYS[2 + 2 * i], 'tags', tags)
  end
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 's', 'job:queued', 'd', data)
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 's', 'queued', 'd', ARGV[5])
redis.call('HSET', KEYS[1], 'n', n, 'sum', 0, 'progress', 0, 'status', 'queued', 'c:queued', n, 'event', ARGV[5],
  'lastEventId', id, 'createdAt', ts, 'updatedAt', ts, unpack(batch_fields))
return {'ok', id, job_event_ids}
