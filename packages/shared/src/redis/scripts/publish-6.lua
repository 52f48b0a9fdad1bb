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
  JavaScript counts them) folds into the job's text key (KEYS[6]) — text[0, offset) .. delta —
  which GET /v1/jobs/{id} shows as `partial` while the job runs; the terminal event deletes it.
  An offset past the text, or inside a character's surrogate pair, is refused. The text's length
  in UTF-16 units is kept in the snapshot (`partialUnits`), so the usual event, which appends
  (offset = that length), is an APPEND of the delta alone: the script never reads the text
  then, and a job's publishes cost what they add, not what the job holds (it used to copy the
  whole text on every event: quadratic over a job's life). Only an offset that goes back (a
  retried attempt starting over) reads the text and writes it again, at most MAX_TEXT_CHARS,
  which the API checks before the script runs (offset + delta's length is the new length, since
  an offset past the text is refused here).

  Named streams (`stream` in ARGV[11]; docs/api.md, "Named streams"): text beside the answer,
  each stream folded as the answer is, with its own offset check, in a key of its own (sp ..
  name, in the job's slot: made here from the names the snapshot lists, `streams`, which no
  caller knows before the script runs) and its length in UTF-16 units in the snapshot's
  `su:<name>`. A name not yet listed is added, up to the most a job may have. Unlike the answer's,
  they are kept after the job's end, for the TTL. A producer's (strict) texts together, the
  answer's and every stream's, stay within `bytes` (MAX_JOB_STREAM_BYTES): STRLEN of each, O(1).

  Metadata (`meta` in ARGV[11]): a JSON Merge Patch (RFC 7396) merged into the snapshot's
  `metadata` here, with its event, and refused ('metadata_too_large') when the merged JSON would
  pass `mb`. Merged on the JSON text itself (merge_patch below), never through cjson, which
  would round numbers to 14 digits, escape '/', and lose the difference between {} and []: a
  value the patch does not touch keeps its text exactly; keys are compared as written, which is
  JSON.stringify's one escape per string (the API's and the workers' patches, and what this
  script stores, are all its compact output). A job's first event carries its metadata at
  creation as its patch. Costs the size of the metadata (at most `mb`), and only for an event
  that carries a patch.

  The Stream's bytes: a producer's Stream is bounded in bytes as well as in entries (`bytes` in
  ARGV[11], MAX_JOB_STREAM_BYTES), counting each entry as its event's JSON. `MAXLEN ~` drops old
  entries this script never sees, so a plain running sum would only grow. Instead the
  snapshot keeps the bytes ever added (`streamBytes`) and each entry carries the sum before it
  (field `c`); the bytes the Stream holds now are then streamBytes minus the first remaining
  entry's `c`: exact whatever was trimmed, for one `XRANGE - + COUNT 1` (an entry without `c`,
  a batch job's first one, has nothing before it). Only a producer's (strict) non-terminal
  event is refused past the bound: its terminal event is not, so a job can always end (it is
  bounded by MAX_EVENT_BYTES, and its result by MAX_TEXT_CHARS), and Herald's own events
  ('clamp': workers, a cancel, the watchdog) are never refused for size.

  Rate (`rate` in ARGV[11], PUBLISH_RATE_PER_JOB, strict only): a producer's publishes per
  second, here rather than in a separate step so that it is atomic with the publish and costs no
  round trip.
  GCRA, a token bucket in one number: the snapshot's `publishAt` is the theoretical time (µs,
  Redis's TIME, the same clock for every replica; Redis >= 7 replicates scripts by effects)
  at which the bucket is full again; a publish adds 1/rate s to it and is let through while it
  stays within one second of now, so a producer may burst `rate` events, then `rate` a second.
  A refused publish changes nothing; an Idempotency-Key replay, a missing or ended job are not
  charged (they come first); a publish let through is charged even when a job rule then refuses
  it, so bad requests are not a way round the rate.

  Idempotency: with a key, a publish that already happened returns its event id again and adds
  nothing, even once the job has ended (a retried terminal publish); the key is kept for
  JOB_TTL_SECONDS from the publish, so it never outlives the job's data.

  Retention: a live job's keys never expire, however long it waits; its terminal event starts
  the JOB_TTL_SECONDS countdown for the Stream and the snapshot.

  Creation: the job's first event also writes the job's own fields (kind, owner, …) given.

  A batch's job (`batch` in ARGV[11]; docs/api.md, "Batches"): the event also goes into the
  batch's Stream, marked as a job's ('job:<status>', so that only the batch's own end ends that
  stream), and the batch's aggregates follow the job: counts by status, and the overall progress
  — the mean of its jobs', an ended job counting 100, so it never goes back. When the overall
  figure or the batch's status changes, a batch event follows in the batch's Stream; when the
  last job ends, that event is the batch's terminal one and the batch's keys get the TTL. All in
  this one step, which the shared hash tag (the batch's) allows on a Cluster.

  KEYS[1] events Stream    KEYS[2] snapshot hash    KEYS[3] idempotency key (any, when unused)
  KEYS[4] batch hash       KEYS[5] batch Stream     (any keys in the job's slot, when not in a batch)
  KEYS[6] the answer being written (string)
  ARGV[1] channel (SPUBLISH) ARGV[2] status           ARGV[3] progress asked for ('': the job's)
  ARGV[4] JSON before the progress value            ARGV[5] JSON after it
  ARGV[6] Stream MAXLEN    ARGV[7] TTL seconds      ARGV[8] event ts (ms)
  ARGV[9] mode: 'clamp' | 'strict'
  ARGV[10] the delta, when the event carries text (else ''): an argument of its own, the one
           that may be long, so that it is neither escaped nor decoded on its way
  ARGV[11] the optional rest, packed (as bullmq's addStandardJob packs its options): '' when
           there is none, which is the usual worker's event, else a JSON object of those given:
    idem    1: use KEYS[3]
    text    [the delta's length in UTF-16 units (JavaScript's, so the script need not count
            them), its offset]
    batch   [the batch id, the batch's channel (SPUBLISH)]
    rate    strict: publishes a second (absent or 0: no limit)
    bytes   strict: the Stream's bytes (absent or 0: no bound)
    fields  [field, value, …] written with the job's first event only
    meta    the event's metadata patch, its JSON as the event carries it (a string here, so that
            cjson never decodes it: see "Metadata" below)
    mb      the most bytes the merged metadata may hold (MAX_METADATA_BYTES; absent or 0: no bound)
    stream  [name, the most names a job may have]: the text goes to this named stream, not the answer
    sp      the job's named streams' keys less their names (keys.streamTextPrefix): given with
            text and with a terminal event, which keep or bound those keys

  The event's JSON (its owner: packages/shared/src/events/event-layout.ts, which
  test/unit/event-layout.test.ts checks this block and the code below against), never parsed here:
    a job's event is ARGV[4] .. progress .. ARGV[5]
    the head ends with `"progress":`
    the tail ends with `"ts":<ms>}`
  It is stored as it is (Stream field `d`, snapshot `event`) and published as `<id> <status> <JSON>`
  (events/wire.ts). A batch's own event is written here, its keys and its counts in this order:
    {"batchId":…,"status":…,"progress":…,"counts":{"queued":…,"processing":…,"done":…,"error":…,"cancelled":…},"ts":…}

  Returns one of:
    {'ok', id, progress, batchEnded, prev, tags, owner}  published; batchEnded '1' when it ended
                             the job's batch; prev the job's event before ('' for none), tags
                             its tags' JSON and owner its key ('' for none), for the tag relay
    {'replay', id}           the idempotency key's event, published before
    {'ended', status}        the job has already ended
    {'missing'}              strict: no such job
    {'not_external'}         strict: a job Herald runs itself
    {'rate_limited', ms}     strict: over the rate; ms until a publish can pass
    {'backwards', progress}  strict: below the job's current progress
    {'bad_offset'}           the offset is past the text, or splits a character
    {'stream_full'}          strict: the Stream would hold more than `bytes`
    {'texts_full'}           strict: the job's texts together would hold more than `bytes`
    {'too_many_streams'}     a stream name past the most a job may have
    {'metadata_too_large'}   the merged metadata would be larger than `mb`
]]
local terminal = {done = true, error = true, cancelled = true}
local current = redis.call('HMGET', KEYS[2], 'status', 'progress', 'partialUnits', 'kind', 'streamBytes', 'publishAt', 'streams',
  'lastEventId', 'tags', 'owner')
local status = current[1]
local strict = ARGV[9] == 'strict'
local packed = ARGV[11] ~= '' and cjson.decode(ARGV[11]) or {}

if packed.idem then
  local seen = redis.call('GET', KEYS[3])
  if seen then
    return {'replay', seen}
  end
end
if strict and not status then
  return {'missing'}
end
if strict and current[4] ~= 'external' then
  return {'not_external'}
end
if status and terminal[status] then
  return {'ended', status}
end

local rate = packed.rate or 0
-- When this publish's credit runs out (µs, Redis's clock): kept to charge a rewind below.
local publish_at = nil
if strict and rate > 0 then
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
  local at = math.max(tonumber(current[6]) or 0, now) + 1000000 / rate
  if at - now > 1000000 then
    return {'rate_limited', math.ceil((at - now - 1000000) / 1000)}
  end
  redis.call('HSET', KEYS[2], 'publishAt', string.format('%.0f', at))
  publish_at = at
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

-- A rewind walks the text from its start (utf16_prefix): for a producer it counts as one more
-- publish for every 256 units it walks, so that no producer can make Redis walk a long text at
-- its whole publish rate (100,000 units took 8 ms a walk). The credit may go past the burst:
-- the publishes after it wait (429) until it is earned back.
local function charge_walk(units_walked)
  if publish_at and units_walked >= 256 then
    publish_at = publish_at + math.floor(units_walked / 256) * 1000000 / rate
    redis.call('HSET', KEYS[2], 'publishAt', string.format('%.0f', publish_at))
  end
end

-- The job's named streams, in the order they began ('streams': names separated by spaces).
local names = {}
for name in string.gmatch(current[7] or '', '%S+') do
  names[#names + 1] = name
end
local new_stream = nil
if packed.stream then
  new_stream = packed.stream[1]
  for _, name in ipairs(names) do
    if name == new_stream then
      new_stream = nil
    end
  end
  if new_stream and #names >= packed.stream[2] then
    return {'too_many_streams'}
  end
end

-- The text after this event: appended (`append`), or written again from the offset (`rewrite`),
-- in the answer's key or the named stream's (`text_key`); its length in UTF-16 units in `units_field`.
local append, rewrite, text_units = nil, nil, nil
local text_key, units_field = KEYS[6], 'partialUnits'
if packed.text then
  local offset = packed.text[2]
  local units
  if packed.stream then
    text_key, units_field = packed.sp .. packed.stream[1], 'su:' .. packed.stream[1]
    units = tonumber(redis.call('HGET', KEYS[2], units_field)) or 0
  else
    units = tonumber(current[3]) or 0
    -- A text begun before it had a key of its own (Herald 0.1.0 kept it in the snapshot's `partial`)
    -- is moved there once, by its next event: O(1) for every other one.
    if units > 0 and redis.call('EXISTS', KEYS[6]) == 0 then
      local old = redis.call('HGET', KEYS[2], 'partial')
      if old then
        redis.call('SET', KEYS[6], old)
        redis.call('HDEL', KEYS[2], 'partial')
      end
    end
  end
  if offset == units then
    append = ARGV[10] -- the common case: the text itself is not read
  elseif offset < units then
    charge_walk(offset)
    local before = redis.call('GET', text_key) or ''
    local keep = utf16_prefix(before, offset)
    if not keep then
      return {'bad_offset'}
    end
    rewrite = string.sub(before, 1, keep) .. ARGV[10]
  else
    return {'bad_offset'}
  end
  text_units = offset + packed.text[1]
end

-- The bytes of every text of the job together after this event, against `bytes`: one STRLEN each.
if strict and text_units and (packed.bytes or 0) > 0 then
  local now = redis.call('STRLEN', text_key)
  local total = redis.call('STRLEN', KEYS[6])
  for _, name in ipairs(names) do
    total = total + redis.call('STRLEN', packed.sp .. name)
  end
  if total - now + (append and now + #append or #rewrite) > packed.bytes then
    return {'texts_full'}
  end
end

-- JSON Merge Patch (RFC 7396) on JSON text (see "Metadata" above). `s` is compact JSON.
-- The index just after the JSON value that starts at s[i].
local function value_end(s, i)
  local c = string.sub(s, i, i)
  if c == '"' then
    local j = i + 1
    while true do
      local k = string.find(s, '["\\]', j)
      if not k then
        error('metadata: a string does not end')
      end
      if string.sub(s, k, k) == '"' then
        return k + 1
      end
      j = k + 2 -- past the escaped character
    end
  elseif c == '{' or c == '[' then
    local depth, j = 0, i
    while true do
      local k = string.find(s, '[][{}"]', j)
      if not k then
        error('metadata: a container does not end')
      end
      local d = string.sub(s, k, k)
      if d == '"' then
        j = value_end(s, k)
      else
        depth = (d == '{' or d == '[') and depth + 1 or depth - 1
        j = k + 1
        if depth == 0 then
          return j
        end
      end
    end
  end
  return string.find(s, '[,}%]]', i) or #s + 1 -- a number, true, false or null
end

-- An object's members: its keys in order (as written, quotes and escapes included), and each one's value text.
local function members(s)
  local keys, values = {}, {}
  local i = 2
  while string.sub(s, i, i) == '"' do
    local key_end = value_end(s, i)
    local key = string.sub(s, i, key_end - 1)
    local after = value_end(s, key_end + 1)
    if values[key] == nil then
      keys[#keys + 1] = key
    end
    values[key] = string.sub(s, key_end + 1, after - 1)
    i = after + 1
  end
  return keys, values
end

-- RFC 7396: a member whose value is null goes, an object merges into an object, anything else
-- replaces; the target's keys keep their places, new ones follow. `target` may be nil. As deep
-- as the patch, which the API bounds (MAX_METADATA_DEPTH).
local merge_work = 0 -- characters the merge has scanned: each level scans its target and patch again
local function merge_patch(target, patch)
  if string.sub(patch, 1, 1) ~= '{' then
    return patch
  end
  merge_work = merge_work + #patch + (target and #target or 0)
  local keys, values = {}, {}
  if target and string.sub(target, 1, 1) == '{' then
    keys, values = members(target)
  end
  local patch_keys, patch_values = members(patch)
  for _, key in ipairs(patch_keys) do
    local value = patch_values[key]
    if value == 'null' then
      values[key] = nil
    else
      if values[key] == nil then
        keys[#keys + 1] = key
      end
      values[key] = merge_patch(values[key], value)
    end
  end
  local out = {}
  for _, key in ipairs(keys) do
    if values[key] ~= nil then
      out[#out + 1] = key .. ':' .. values[key]
    end
  end
  return '{' .. table.concat(out, ',') .. '}'
end

local metadata = nil
if packed.meta then
  -- A patch twice the bound could only be refused after the merge (even one of deletions alone
  -- is smaller): refused before it, for nothing.
  if (packed.mb or 0) > 0 and #packed.meta > 2 * packed.mb then
    return {'metadata_too_large'}
  end
  metadata = merge_patch(redis.call('HGET', KEYS[2], 'metadata') or nil, packed.meta)
  -- The merge scans its texts once a level (size × depth: 16 KB at 31 levels took 65 ms). One
  -- pass over as much as the bound allows is free; past it a producer pays as for a walk into
  -- its text, so none can make Redis merge deep at its whole rate.
  charge_walk(merge_work - (packed.mb or 0))
  if (packed.mb or 0) > 0 and #metadata > packed.mb then
    return {'metadata_too_large'}
  end
end

local data = ARGV[4] .. progress .. ARGV[5]
-- the bytes of event JSON ever added to the Stream, before this event
local added = tonumber(current[5]) or 0
local bound = packed.bytes or 0
if strict and bound > 0 and not terminal[ARGV[2]] then
  local held = 0
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
  if first then
    local before_first = 0
    local fields = first[2]
    for i = 1, #fields, 2 do
      if fields[i] == 'c' then
        before_first = tonumber(fields[i + 1])
      end
    end
    held = added - before_first
  end
  if held + #data > bound then
    return {'stream_full'}
  end
end

local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[6], '*', 's', ARGV[2], 'd', data, 'c', string.format('%d', added))
local snapshot = {'status', ARGV[2], 'progress', progress, 'event', data, 'lastEventId', id, 'updatedAt', ARGV[8],
  'streamBytes', string.format('%d', added + #data)}
if not status then
  -- the job's first event: when it began, and what it is
  snapshot[#snapshot + 1] = 'createdAt'
  snapshot[#snapshot + 1] = ARGV[8]
  for _, word in ipairs(packed.fields or {}) do
    snapshot[#snapshot + 1] = word
  end
end
if text_units then
  snapshot[#snapshot + 1] = units_field
  snapshot[#snapshot + 1] = text_units
  if append then
    redis.call('APPEND', text_key, append)
  else
    redis.call('SET', text_key, rewrite)
  end
end
if new_stream then
  names[#names + 1] = new_stream
  snapshot[#snapshot + 1] = 'streams'
  snapshot[#snapshot + 1] = table.concat(names, ' ')
end
if metadata then
  snapshot[#snapshot + 1] = 'metadata'
  snapshot[#snapshot + 1] = metadata
end
redis.call('HSET', KEYS[2], unpack(snapshot))
if terminal[ARGV[2]] then
  redis.call('HDEL', KEYS[2], 'partialUnits', 'partial') -- `partial`: a text of 0.1.0's, never moved
  redis.call('DEL', KEYS[6])
  redis.call('EXPIRE', KEYS[1], ARGV[7])
  redis.call('EXPIRE', KEYS[2], ARGV[7])
  -- The named streams stay, as long as the snapshot that lists them.
  for _, name in ipairs(packed.sp and names or {}) do
    redis.call('EXPIRE', packed.sp .. name, ARGV[7])
  end
end
if packed.idem then
  redis.call('SET', KEYS[3], id, 'EX', ARGV[7])
end
redis.call('SPUBLISH', ARGV[1], id .. ' ' .. ARGV[2] .. ' ' .. data)

local batch_ended = ''
if packed.batch then
  local batch_id, batch_channel = packed.batch[1], packed.batch[2]
  local b = redis.call('HMGET', KEYS[4], 'n', 'sum', 'progress', 'status', 'cancelling')
  local n = tonumber(b[1])
  if n then -- the batch is still there (it outlives its jobs)
    local maxlen = tonumber(ARGV[6]) * n + 100
    local tag = 'job:' .. ARGV[2]
    local last = redis.call('XADD', KEYS[5], 'MAXLEN', '~', maxlen, '*', 's', tag, 'd', data)
    redis.call('SPUBLISH', batch_channel, last .. ' ' .. tag .. ' ' .. data)
    -- An ended job counts 100 towards the overall figure, whatever its own.
    local function effective(s, p)
      if terminal[s] then
        return 100
      end
      return tonumber(p) or 0
    end
    local before = status and effective(status, floor) or 0
    local sum = tonumber(b[2]) + effective(ARGV[2], progress) - before
    local counted = {}
    if status ~= ARGV[2] then
      if status then
        redis.call('HINCRBY', KEYS[4], 'c:' .. status, -1)
      end
      redis.call('HINCRBY', KEYS[4], 'c:' .. ARGV[2], 1)
    end
    local c = redis.call('HMGET', KEYS[4], 'c:queued', 'c:processing', 'c:done', 'c:error', 'c:cancelled')
    for i = 1, 5 do
      counted[i] = tonumber(c[i]) or 0
    end
    local overall = math.floor(sum / n)
    local ended = counted[3] + counted[4] + counted[5] == n
    local now = 'processing'
    if ended then
      now = b[5] == '1' and 'cancelled' or 'done'
    elseif counted[1] == n then
      now = 'queued'
    end
    local fields = {'sum', sum, 'lastEventId', last, 'updatedAt', ARGV[8]}
    if overall > tonumber(b[3]) or now ~= b[4] then
      local counts = string.format('{"queued":%d,"processing":%d,"done":%d,"error":%d,"cancelled":%d}', unpack(counted))
      local event = '{"batchId":' .. cjson.encode(batch_id) .. ',"status":"' .. now .. '","progress":' .. overall
        .. ',"counts":' .. counts .. ',"ts":' .. ARGV[8] .. '}'
      last = redis.call('XADD', KEYS[5], 'MAXLEN', '~', maxlen, '*', 's', now, 'd', event)
      redis.call('SPUBLISH', batch_channel, last .. ' ' .. now .. ' ' .. event)
      fields = {'sum', sum, 'progress', overall, 'status', now, 'event', event, 'lastEventId', last, 'updatedAt', ARGV[8]}
    end
    redis.call('HSET', KEYS[4], unpack(fields))
    if ended then
      redis.call('EXPIRE', KEYS[4], ARGV[7])
      redis.call('EXPIRE', KEYS[5], ARGV[7])
      batch_ended = '1'
    end
  end
end
-- What a tagged job's relay needs (events/tag-relay.ts): the event before this one, the tags, the owner.
local tags, owner = current[9], current[10]
if not status then
  local fields = packed.fields or {}
  for i = 1, #fields - 1, 2 do
    if fields[i] == 'tags' then
      tags = fields[i + 1]
    elseif fields[i] == 'owner' then
      owner = fields[i + 1]
    end
  end
end
return {'ok', id, progress, batch_ended, current[8] or '', tags or '', owner or ''}
