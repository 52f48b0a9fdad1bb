#!lua flags=no-writes
--[[
  A job's snapshot hash and the text being written (its own key: publish-6.lua), read in one
  step, so the text is exactly the fold up to the snapshot's lastEventId, never a later one.

  A script rather than MULTI: Redis refuses to queue any command inside MULTI while it is over
  maxmemory, reads included, and a snapshot must stay readable then (docs/api.md, "Redis at its
  memory limit"). `no-writes` lets it run at OOM and on a replica.

  KEYS[1] snapshot hash    KEYS[2] text string
  Returns {flat field/value list of the hash, the text or false}.
]]
return {redis.call('HGETALL', KEYS[1]), redis.call('GET', KEYS[2])}
