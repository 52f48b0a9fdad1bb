--[[
  Appends one event to a job's Stream, updates its snapshot and wakes its watchers, atomically,
  so the event id, the Stream and the snapshot always agree.

  The wake-up is SPUBLISH on the job's channel, which shares the job's hash tag: on a Redis
  Cluster it goes only to the shard that owns the job's slot (classic PUBLISH is broadcast to
  every node), and on one Redis it behaves as PUBLISH does, for SSUBSCRIBErs.

  Guards, enforced here because several producers (workers, the API's cancel, an external
  job's producer, the producer watchdog) race:
    - nothing is appended after a terminal event: every job has exactly one, and it is last;
    - progress never decreases: in 'clamp' mode (Herald's own producers: a retry starting over)
      a lower value is raised to the current one; in 'strict' mode (a producer publishing through
      the API) the event is refused instead, and so is an event for a job that does not exist.

  The result being written: an event with text (`delta` at `offset`, in UTF-16 code units as
  JavaScript counts them) folds into the snapshot's `partial` — partial[0, offset) .. delta —
  which GET /v1/jobs/{id} shows while the job runs; the terminal event drops it. An offset past
  the text, or inside a character's surrogate pair, is refused. The text's length in UTF-16
  units is kept beside it (`partialUnits`), so the usual event, which appends, costs a
  concatenation rather than a walk through the whole text.

  Idempotency: with a key, a publish that already happened returns its event id again and adds
  nothing, even once the job has ended (a retried terminal publish); the key is kept for
  JOB_TTL_SECONDS from the publish, so it never outlives the job's data.

  Retention: a live job's keys never expire, however long it waits; its terminal event starts
  the JOB_TTL_SECONDS countdown for the Stream and the snapshot.

  Creation: the job's first event also writes the job's own fields (kind, owner, …) given.

  KEYS[1] events Stream    KEYS[2] snapshot hash    KEYS[3] idempotency key (any, when unused)
  ARGV[1] channel (SPUBLISH) ARGV[2] status           ARGV[3] progress asked for ('': the job's)
  ARGV[4] JSON before the progress value            ARGV[5] JSON after it
  ARGV[6] Stream MAXLEN    ARGV[7] TTL seconds      ARGV[8] event ts (ms)
  ARGV[9] mode: 'clamp' | 'strict'                  ARGV[10] '1' to use KEYS[3], else ''
  ARGV[11] '1' when the event carries text, else '' ARGV[12] delta   ARGV[13] offset
  ARGV[14…] field, value, … written with the job's first event only

  Returns one of:
    {'ok', id, progress}     published
    {'replay', id}           the idempotency key's event, published before
    {'ended', status}        the job has already ended
    {'missing'}              strict: no such job
    {'backwards', progress}  strict: below the job's current progress
    {'bad_offset'}           the offset is past the text, or splits a character
]]
local terminal = {done = true, error = true, cancelled = true}
local current = redis.call('HMGET', KEYS[2], 'status', 'progress', 'partial', 'partialUnits')
local status = current[1]
local strict = ARGV[9] == 'strict'

if ARGV[10] == '1' then
  local seen = redis.call('GET', KEYS[3])
  if seen then
    return {'replay', seen}
  end
end
if status and terminal[status] then
  return {'ended', status}
end
if strict and not status then
  return {'missing'}
end

local floor = tonumber(current[2])
local progress = tonumber(ARGV[3]) or floor or 0
if floor and floor > progress then
  if strict then
    return {'backwards', string.format('%d', floor)}
  end
  progress = floor
end
progress = string.format('%d', progress)

-- The byte length of the first `units` UTF-16 code units of the UTF-8 string s, or nil when
-- `units` is past its end or inside a character that takes two units.
local function utf16_prefix(s, units)
  local i, n, len = 1, 0, #s
  while n < units do
    if i > len then
      return nil
    end
    local c = string.byte(s, i)
    local size, width = 1, 1
    if c >= 0xF0 then
      size, width = 4, 2
    elseif c >= 0xE0 then
      size = 3
    elseif c >= 0xC0 then
      size = 2
    end
    if n + width > units then
      return nil
    end
    n = n + width
    i = i + size
  end
  return i - 1
end

-- The length of the UTF-8 string s in UTF-16 code units.
local function utf16_length(s)
  local n = 0
  for i = 1, #s do
    local c = string.byte(s, i)
    if c < 0x80 or c >= 0xC0 then
      n = n + (c >= 0xF0 and 2 or 1) -- a character's first byte (four-byte ones take two units)
    end
  end
  return n
end

local partial, partial_units = nil, nil
if ARGV[11] == '1' then
  local before = current[3] or ''
  local offset = tonumber(ARGV[13])
  local units = tonumber(current[4]) or (before == '' and 0 or nil)
  local keep
  if offset == units then
    keep = #before -- appending: the common case
  else
    keep = utf16_prefix(before, offset)
  end
  if not keep then
    return {'bad_offset'}
  end
  partial = string.sub(before, 1, keep) .. ARGV[12]
  partial_units = offset + utf16_length(ARGV[12])
end

local data = ARGV[4] .. progress .. ARGV[5]
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[6], '*', 's', ARGV[2], 'd', data)
local snapshot = {'status', ARGV[2], 'progress', progress, 'event', data, 'lastEventId', id, 'updatedAt', ARGV[8]}
if not status then
  -- the job's first event: when it began, and what it is
  snapshot[#snapshot + 1] = 'createdAt'
  snapshot[#snapshot + 1] = ARGV[8]
  for i = 14, #ARGV do
    snapshot[#snapshot + 1] = ARGV[i]
  end
end
if partial then
  snapshot[#snapshot + 1] = 'partial'
  snapshot[#snapshot + 1] = partial
  snapshot[#snapshot + 1] = 'partialUnits'
  snapshot[#snapshot + 1] = partial_units
end
redis.call('HSET', KEYS[2], unpack(snapshot))
if terminal[ARGV[2]] then
  redis.call('HDEL', KEYS[2], 'partial', 'partialUnits')
  redis.call('EXPIRE', KEYS[1], ARGV[7])
  redis.call('EXPIRE', KEYS[2], ARGV[7])
end
if ARGV[10] == '1' then
  redis.call('SET', KEYS[3], id, 'EX', ARGV[7])
end
redis.call('SPUBLISH', ARGV[1], id .. ' ' .. ARGV[2] .. ' ' .. data)
return {'ok', id, progress}
