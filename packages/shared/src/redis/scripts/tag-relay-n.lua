--[[
  Relays events of one or more jobs into one tag's feed (docs/api.md, "A tag's stream"), run by
  the publisher after each publish of a tagged job (one job), and after a batch's creation (every
  job of the batch carrying the tag, in one call), on the tag's slot (its keys share
  `{tag:<tag>}`; the jobs' own keys are in other slots, which is why this is a second step and
  not part of publish-6.lua or create-batch-n.lua).

  The feed holds each job's events once and in the job's order, even when several publishers of
  one job race: an event is appended only as the next link of the job's chain. `relayed` keeps,
  per job, the id of its last event relayed; each job's group names the event before its first
  one ('' for the job's first event):
    - the job's chain ends there: the events are appended;
    - the chain is already past some of them (another publisher relayed them): those are skipped;
    - the chain stops short of it (a publisher between its publish and its relay, or one that
      died there): nothing of the job is appended, and its reply names where the chain stops, so
      the caller relays from there, reading the job's Stream ('gap'). A later publish of the job
      heals a relay that never came, the same way.
  A job's terminal event ends its chain: `relayed` keeps its last id and its terminal feed
  entry's id ("<last> <feed id>"), which tells a stream that opened after the end to leave the
  job out (tag-page-2.lua), and the job moves from `open` (and its owner's open set) to `ended`. `relayed` forgets a job
  TTL seconds after its end (a few each call, oldest first), as its own keys do.

  Each entry: s = "<status>/<owner>/<first>" (events/tag-entry.ts), d = the event's JSON as the
  job's Stream holds it, j = the job id; published on the tag's channel as "<feed id> <s> <d>"
  (events/wire.ts). The feed is capped at MAXLEN ~ ARGV[2] (TAG_FEED_MAXLEN) and every key lives
  TTL seconds past the tag's last relay.

  And at ARGV[5] bytes (TAG_FEED_MAX_BYTES), as publish-6.lua bounds a job's Stream: `relayed`
  keeps the bytes ever added to the feed (field `#bytes`; no job id holds a '#'), each entry the
  bytes added before it (field `c`), so the feed holds `#bytes` minus its first entry's `c`. Past
  the bound, the feed is trimmed to about half its length, again while still over (a few rounds
  at most): a stream that needs what went begins with a resync notice.

  Besides `open` (every key's jobs not ended, each scored with its first feed entry's ms), each
  owner has its own open set, kept alike: a fresh stream of one key starts from the oldest of its
  own jobs (tag-open-2.lua), which another key's job cannot hold back.

  KEYS[1] feed Stream      KEYS[2] relayed hash      KEYS[3] open zset      KEYS[4] ended zset
  KEYS[5 …] the open zsets of the groups' owners (keys.tagOpen(tag, owner))
  ARGV[1] channel (SPUBLISH)   ARGV[2] MAXLEN   ARGV[3] TTL seconds   ARGV[4] now (ms)
  ARGV[5] the most bytes the feed holds (0: no bound)
  ARGV[6 …] one group per job: job id, owner ('-': none), k (KEYS[4 + k] is the owner's open
  zset; 0: none, for no owner), the id of the job's event before the first one given ('' for
  none), n, then the n events, three arguments each: id, status, JSON; in the job's order,
  consecutive.

  Returns, per group in order, two elements: 'ok', entries appended; or 'gap', the job's last
  relayed id ('' for none).
]]
local terminal = {done = true, error = true, cancelled = true}

--- @include "stream-id-before.lua"

local maxlen, now, max_bytes = ARGV[2], ARGV[4], tonumber(ARGV[5])
-- the bytes ever added to the feed (an entry's data, status and job id), before this call's
local added = tonumber(redis.call('HGET', KEYS[2], '#bytes')) or 0

-- One job's group (its events at ARGV[from], three each, `n` of them): {outcome, value}.
local function relay(job, owner, owner_open, prev, from, n)
  local held = redis.call('HGET', KEYS[2], job)
  if held and string.find(held, ' ', 1, true) then
    -- Its terminal event is in: nothing follows it, and no open set holds it (a settle makes sure).
    redis.call('ZREM', KEYS[3], job)
    if owner_open then
      redis.call('ZREM', owner_open, job)
    end
    return {'ok', 0}
  end
  local last = held or nil -- a missing field is false in Lua
  if last == nil then
    if prev ~= '' then
      return {'gap', ''}
    end
  elseif prev ~= '' and last ~= prev and before(last, prev) then
    return {'gap', last}
  end
  local appended, ended = 0, false
  for i = from, from + 3 * (n - 1), 3 do
    local id, status, data = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    if last == nil or before(last, id) then
      local s = status .. '/' .. owner .. '/' .. (last == nil and '1' or '0')
      local feed_id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 's', s, 'd', data, 'j', job, 'c',
        string.format('%d', added))
      added = added + #data + #s + #job
      redis.call('SPUBLISH', ARGV[1], feed_id .. ' ' .. s .. ' ' .. data)
      if last == nil then
        local ms = string.match(feed_id, '^(%d+)')
        redis.call('ZADD', KEYS[3], ms, job)
        if owner_open then
          redis.call('ZADD', owner_open, ms, job)
        end
      end
      last = id
      appended = appended + 1
      if terminal[status] then
        redis.call('ZREM', KEYS[3], job)
        if owner_open then
          redis.call('ZREM', owner_open, job)
        end
        redis.call('ZADD', KEYS[4], now, job)
        redis.call('HSET', KEYS[2], job, last .. ' ' .. feed_id)
        ended = true
        break
      end
    end
  end
  if appended > 0 and not ended then
    redis.call('HSET', KEYS[2], job, last)
  end
  return {'ok', appended}
end

local out, total = {}, 0
local i = 6
while i <= #ARGV do
  local k, n = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 4])
  local reply = relay(ARGV[i], ARGV[i + 1], k > 0 and KEYS[4 + k] or nil, ARGV[i + 3], i + 5, n)
  out[#out + 1] = reply[1]
  out[#out + 1] = reply[2]
  if reply[1] == 'ok' then
    total = total + reply[2]
  end
  i = i + 5 + 3 * n
end

local forget = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', tonumber(now) - tonumber(ARGV[3]) * 1000, 'LIMIT', 0, 8)
if #forget > 0 then
  redis.call('HDEL', KEYS[2], unpack(forget))
  redis.call('ZREM', KEYS[4], unpack(forget))
end
-- The bytes the feed holds: what was ever added less what its first entry had before it.
local function held()
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
  if not first then
    return 0
  end
  local fields, before_first = first[2], 0
  for f = 1, #fields, 2 do
    if fields[f] == 'c' then
      before_first = tonumber(fields[f + 1]) or 0
    end
  end
  return added - before_first
end

if total > 0 then
  redis.call('HSET', KEYS[2], '#bytes', string.format('%d', added))
  if max_bytes > 0 then
    for _ = 1, 8 do
      if held() <= max_bytes then
        break
      end
      local length = redis.call('XLEN', KEYS[1])
      if length <= 1 then
        break
      end
      -- `~` trims whole nodes only; when that takes nothing (one node), exactly.
      if redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', math.floor(length / 2)) == 0 then
        redis.call('XTRIM', KEYS[1], 'MAXLEN', math.floor(length / 2))
      end
    end
  end
  for k = 1, #KEYS do
    redis.call('EXPIRE', KEYS[k], ARGV[3])
  end
end
return out
