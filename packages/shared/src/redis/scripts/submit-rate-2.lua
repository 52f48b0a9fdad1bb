--[[
  Submission rate limits: the caller's API key and client IP, checked and counted in one step,
  so every replica sees one budget each and no two replicas can both spend its last unit.

  Both or neither: a submission is refused when either limit is reached, and then counts against
  neither — a caller refused for its IP does not burn its key's budget (nor the reverse), so a
  client that keeps retrying through a 429 does not lock out its other addresses or its key.

  A submission costs units: a job 1, a batch its n items. The API charges 1 before the body is
  read (every attempt counts) and, once a batch is parsed, its other n − 1: `cost` is what this
  call charges, `size` the whole request's units (n), which a retry will charge again from the
  start, so the wait returned is for `size` to fit, not `cost`. The caller never passes a size
  over a limit: such a batch can never fit in a window (it gets a 413 instead).

  The window: a sliding window approximated from two fixed ones, the current and the previous,
  the previous weighted by how much of it the sliding window still covers:
      estimate = previous * (W - elapsed) / W + current
  Chosen over a plain fixed window (INCR + PEXPIRE) because a fixed window lets a client spend
  its whole limit just before a boundary and all of it again just after — twice the limit in a
  moment, the very burst a limit on work that costs a worker's time is for. The estimate takes
  the previous window's submissions as evenly spread, and costs no more than a fixed window: one
  small hash per key or IP, two windows long. The clock is Redis's own (TIME), so replicas with
  skewed clocks still share one window. Redis >= 7 replicates scripts by effects, so TIME is safe.

  Allowed when estimate + cost <= limit. The wait, for s = size units (s <= limit, no further
  submissions meanwhile), from the same estimate at a later time:
  - when current + s <= limit: later in this window, once the previous window's weight has
    shrunk: previous * (W - elapsed') <= (limit - s - current) * W, i.e. elapsed' =
    W - (limit - s - current) * W / previous (previous > 0 here, or it would have been allowed);
  - else in the next window, where this one's count becomes the previous (current >= 1 here,
    since s <= limit): current * (W - elapsed'') + s * W <= limit * W, i.e. elapsed'' =
    W * (current + s - limit) / current, at most W (as s <= limit): (W - elapsed) + elapsed''.

  KEYS[1] the API key's counter    KEYS[2] the client IP's counter   (hashes {w, c, p})
  ARGV[1] window (ms)    ARGV[2] the key's limit    ARGV[3] the IP's limit    (0: not checked)
  ARGV[4] cost (units charged when allowed)    ARGV[5] size (>= cost, <= each checked limit)

  Returns {1, 0, ''} when allowed (and counted), else {0, ms until `size` can pass, refused}
  with refused 'key', 'ip' or 'key,ip'.
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local window = tonumber(ARGV[1])
local index = math.floor(now / window)
local elapsed = now - index * window
local names = {'key', 'ip'}
local cost = tonumber(ARGV[4])
local size = tonumber(ARGV[5])

local checked = {}
local refused = {}
local wait = 0
for i = 1, 2 do
  local limit = tonumber(ARGV[i + 1])
  if limit > 0 then
    if size > limit or cost > size then
      return redis.error_reply('submit-rate: a size of ' .. size .. ' (cost ' .. cost .. ') cannot fit a limit of ' .. limit)
    end
    local stored = redis.call('HMGET', KEYS[i], 'w', 'c', 'p')
    local w = tonumber(stored[1])
    local current = tonumber(stored[2]) or 0
    local previous = tonumber(stored[3]) or 0
    if w == index - 1 then
      previous, current = current, 0
    elseif w ~= index then
      previous, current = 0, 0
    end
    -- estimate + cost <= limit, multiplied out by the window to stay in integers
    if previous * (window - elapsed) + (current + cost) * window <= limit * window then
      checked[#checked + 1] = {KEYS[i], current, previous}
    else
      local ms
      if current + size <= limit then
        ms = math.ceil((window - elapsed) - (limit - size - current) * window / previous)
      else
        ms = (window - elapsed) + math.ceil(window * (current + size - limit) / current)
      end
      if ms > wait then wait = ms end
      refused[#refused + 1] = names[i]
    end
  end
end

if #refused > 0 then
  return {0, math.max(wait, 1), table.concat(refused, ',')}
end
for _, counter in ipairs(checked) do
  redis.call('HSET', counter[1], 'w', index, 'c', counter[2] + cost, 'p', counter[3])
  -- needed until the end of the next window, when this one stops counting
  redis.call('PEXPIRE', counter[1], 2 * window)
end
return {1, 0, ''}
