-- Whether stream id a is before b, compared as numbers ('10-0' is after '9-0'), as
-- @herald/contract's compareStreamIds does. False when either is not an id ('' included): no
-- script may error on an argument it was given.
local function before(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  if not am or not bm then
    return false
  end
  am, bm = tonumber(am), tonumber(bm)
  if am ~= bm then
    return am < bm
  end
  return tonumber(as) < tonumber(bs)
end
