#!lua flags=no-writes
--[[
  A job's snapshot hash, the answer being written and its named streams (keys of their own:
  publish-6.lua), read in one step, so each text is exactly its fold up to the snapshot's
  lastEventId, never a later one.

  A script rather than MULTI: Redis refuses to queue any command inside MULTI while it is over
  maxmemory, reads included, and a snapshot must stay readable then (docs/api.md, "Redis at its
  memory limit"). `no-writes` lets it run at OOM and on a replica.

  The named streams' keys are ARGV[1] .. name for each name the hash lists (`streams`, separated
  by spaces): the caller cannot know them before this runs, and each is in the job's slot (its
  hash tag), as publish-6.lua writes them.

  KEYS[1] snapshot hash    KEYS[2] answer string    ARGV[1] the named streams' keys less their names
  Returns {flat field/value list of the hash, the answer or false, {name, text, …}}.
]]
local hash = redis.call('HGETALL', KEYS[1])
local streams = {}
for i = 1, #hash, 2 do
  if hash[i] == 'streams' then
    for name in string.gmatch(hash[i + 1], '%S+') do
      streams[#streams + 1] = name
      streams[#streams + 1] = redis.call('GET', ARGV[1] .. name) or ''
    end
  end
end
return {hash, redis.call('GET', KEYS[2]), streams}
