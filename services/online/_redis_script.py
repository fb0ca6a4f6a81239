"""The Lua script that writes Feast Redis hashes only over older event times."""

from __future__ import annotations

import hashlib

# KEYS: the entities' hashes. ARGV[1]: TTL seconds ("0": none); ARGV[2]: the
# number of HSET arguments per key; then each key's field/value pairs in
# KEYS order, the first being _ts:<view> and its protobuf Timestamp.
# Reading a stored time and writing its hash run in one command on the
# server, so no other writer lands in between (a separate HGET then HSET let
# a newer row, materialised or pushed meanwhile, be overwritten). A few keys
# share one call: a call costs several microseconds more than its HSET.
#
# The rule is Feast's, as the Python check before it had it: skip only when
# the stored time is later than the incoming one; an equal time is written
# again (a correction under the same event time), and a stored epoch (0, or
# empty bytes) counts as nothing stored. Times compare as (seconds, nanos)
# after carrying nanos into seconds: exact, where seconds * 1e9 + nanos
# would round in Lua's doubles.
SCRIPT = b"""
-- A varint at s[i]: its value as an int64 and the index after it; nil when
-- malformed. A negative int64 is 10 bytes (two's complement): its value is
-- -(inverted low 63 bits) - 1, exact for any time near 1970.
local function varint(s, i)
  local value, inverted, scale = 0, 0, 1
  for n = 1, 10 do
    local byte = string.byte(s, i)
    if byte == nil then return nil end
    i = i + 1
    local group = byte % 128
    if n == 10 then
      if byte >= 128 then return nil end
      if group % 2 == 1 then return -inverted - 1, i end
      return value, i
    end
    value = value + group * scale
    inverted = inverted + (127 - group) * scale
    scale = scale * 128
    if byte < 128 then return value, i end
  end
end

local function timestamp(s)
  local seconds, nanos, i = 0, 0, 1
  while i <= #s do
    local tag, value
    tag, i = varint(s, i)
    if tag == nil then return nil end
    local wire = tag % 8
    if wire == 0 then
      value, i = varint(s, i)
      if value == nil then return nil end
      if tag == 8 then seconds = value elseif tag == 16 then nanos = value end
    elseif wire == 1 then i = i + 8
    elseif wire == 5 then i = i + 4
    elseif wire == 2 then
      value, i = varint(s, i)
      if value == nil or value < 0 then return nil end
      i = i + value
    else return nil end
  end
  if i ~= #s + 1 then return nil end
  local carry = math.floor(nanos / 1000000000)
  return seconds + carry, nanos - carry * 1000000000
end

local function later(stored, incoming)
  local old_s, old_n = timestamp(stored)
  local new_s, new_n = timestamp(incoming)
  if old_s == nil or new_s == nil then return nil end
  if old_s == 0 and old_n == 0 then return false end
  return new_s < old_s or (new_s == old_s and new_n < old_n)
end

local ttl, width, written = ARGV[1], tonumber(ARGV[2]), 0
for k = 1, #KEYS do
  local first = 3 + (k - 1) * width
  local stored = redis.call('HGET', KEYS[k], ARGV[first])
  local skip = false
  -- The same bytes are the same time (a rerun): written, nothing to decode.
  if stored and stored ~= ARGV[first + 1] then
    skip = later(stored, ARGV[first + 1])
    if skip == nil then
      return redis.error_reply('ERR ' .. ARGV[first] .. ' of a key is not a '
        .. 'protobuf Timestamp: delete the key or rewrite it with skip_dedup')
    end
  end
  if not skip then
    -- In slices: one unpack() takes at most ~8,000 values (Lua's C stack).
    local last = first + width - 1
    for s = first, last, 7000 do
      redis.call('HSET', KEYS[k], unpack(ARGV, s, math.min(s + 6999, last)))
    end
    if ttl ~= '0' then redis.call('EXPIRE', KEYS[k], ttl) end
    written = written + 1
  end
end
return written
"""
_SHA = hashlib.sha1(SCRIPT, usedforsecurity=False).hexdigest().encode()

# What follows "*<n>\r\n" in each command: the script by its SHA1, or itself.
EVALSHA = b"$7\r\nEVALSHA\r\n$40\r\n%s\r\n" % _SHA
_EVAL = b"$4\r\nEVAL\r\n$%d\r\n%s\r\n" % (len(SCRIPT), SCRIPT)


def as_eval(command: bytes) -> bytes:
    """The EVALSHA ``command`` as an EVAL carrying the script (which caches it)."""
    return command.replace(EVALSHA, _EVAL, 1)
