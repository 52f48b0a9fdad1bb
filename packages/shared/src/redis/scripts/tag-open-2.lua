--[[
  Where a tag's stream opened without a cursor begins (docs/api.md, "A tag's stream"), read at
  one instant: the feed's last entry (the stream's `open` point: what is at or before it
  belongs to the jobs not ended then; tag-page-2.lua) and the first feed ms of the oldest job
  not ended (its whole history is after that).

  KEYS[1] feed Stream      KEYS[2] open zset (tag-relay-n.lua): every key's, or one owner's for a
  stream that sees only that key's jobs (another key's job does not hold it back)
  Returns {last feed id or '', oldest open job's first ms or '', that job's id or ''}.
]]
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return {last and last[1] or '', oldest[2] or '', oldest[1] or ''}
