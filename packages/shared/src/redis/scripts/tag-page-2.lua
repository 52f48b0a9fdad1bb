--[[
  One page of a tag's feed for one stream (docs/api.md, "A tag's stream"): up to ARGV[2] entries
  after ARGV[1], less those of jobs the stream leaves out. A stream takes the jobs not ended when
  it opened (its open point, ARGV[3]) and every job after: an entry at or before the open point
  is kept when its job's terminal entry came after that point, or has not come. A job `relayed`
  no longer knows (ended longer than the TTL ago) had ended. Each job is looked up once a page.
  A watcher who sees one key's jobs (ARGV[4]) gets only those: the others' are dropped here, not
  sent to the replica to be filtered (the owner is the middle part of `s`: events/tag-entry.ts).

  KEYS[1] feed Stream      KEYS[2] relayed hash (tag-relay-n.lua)
  ARGV[1] the id the page starts after ('': from the first)   ARGV[2] COUNT
  ARGV[3] the stream's open point ('': none, keep every entry)
  ARGV[4] the only owner whose jobs the watcher sees ('': every owner's)
  Returns {entries read, the last one's id or '', then id, s, d for each entry kept}.
]]
--- @include "stream-id-before.lua"

local entries = redis.call('XRANGE', KEYS[1], ARGV[1] == '' and '-' or '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
local out = {#entries, #entries > 0 and entries[#entries][1] or ''}
local open_point, only = ARGV[3], ARGV[4]
local kept = {}
for _, entry in ipairs(entries) do
  local id, fields = entry[1], entry[2]
  local s, d, j = '', '', ''
  for i = 1, #fields, 2 do
    local name = fields[i]
    if name == 's' then
      s = fields[i + 1]
    elseif name == 'd' then
      d = fields[i + 1]
    elseif name == 'j' then
      j = fields[i + 1]
    end
  end
  local keep = true
  if only ~= '' then
    local a = string.find(s, '/', 1, true)
    local b = a and string.find(s, '/', a + 1, true)
    keep = b ~= nil and string.sub(s, a + 1, b - 1) == only
  end
  if keep and open_point ~= '' and not before(open_point, id) then
    keep = kept[j]
    if keep == nil then
      local held = redis.call('HGET', KEYS[2], j) -- false when missing
      keep = false
      if held then
        local space = string.find(held, ' ', 1, true)
        keep = not space or before(open_point, string.sub(held, space + 1))
      end
      kept[j] = keep
    end
  end
  if keep then
    out[#out + 1] = id
    out[#out + 1] = s
    out[#out + 1] = d
  end
end
return out
