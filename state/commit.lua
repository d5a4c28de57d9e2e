--[[
commit.lua: writes one account's changed rule states, its journey changes
(healthy adoption reached, a new stage) and its new outbox entries
atomically (one EVALSHA per account), so a trigger or stage event is in the
outbox if and only if the state that produced it is stored: a crash can
never leave a fired episode or a stage change without its event, or an
event whose decision will be made again.

Key layout (see apply.lua; T is the account's hash tag):
  KEYS[1] <p>:{T}:rules    hash: rule_id -> jd_rule_state_format text
  KEYS[2] <p>:{T}:outbox   hash: outbox id -> encoded event (binary); the
                           id is the trigger_id, or "s:" + the stage
                           event's id for journey stage events
  KEYS[3] <p>:{T}:meta     hash: the account's meta (apply.lua)

ARGV:
  [1]             S, number of rule states
  [2]             M, number of meta fields to set (HSET)
  [3]             X, number of meta fields to set only if absent (HSETNX:
                  healthy_adoption_at, a first-time-seen value)
  then            S pairs (rule_id, state text), M pairs (field, value),
                  X pairs (field, value)
  then            pairs (outbox id, payload bytes), any number
Every write is a plain HSET or HSETNX: re-running the same commit (a retry
after a lost reply) writes the same values again. The global outbox index
(<p>:outbox, another slot) is maintained by the C shell around this script.

Reply: the number of entries in the account's outbox afterwards.
]]

local nstates, nmeta, nnx = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local fixed = 3 + 2 * ((nstates or 0) + (nmeta or 0) + (nnx or 0))
if nstates == nil or nmeta == nil or nnx == nil or fixed > #ARGV or
   (#ARGV - fixed) % 2 ~= 0 then
  return redis.error_reply('ERR commit.lua: bad ARGV layout')
end

-- HSET in slices: unpack() of thousands of values would overflow Lua's
-- C stack. Slices hold an even number of values, so pairs stay whole.
local function hset_pairs(key, first, last)
  local i = first
  while i <= last do
    local j = math.min(i + 999, last)
    redis.call('HSET', key, unpack(ARGV, i, j))
    i = j + 1
  end
end

local pos = 4
if nstates > 0 then hset_pairs(KEYS[1], pos, pos + 2 * nstates - 1) end
pos = pos + 2 * nstates
if nmeta > 0 then hset_pairs(KEYS[3], pos, pos + 2 * nmeta - 1) end
pos = pos + 2 * nmeta
for i = 0, nnx - 1 do
  redis.call('HSETNX', KEYS[3], ARGV[pos + 2 * i], ARGV[pos + 2 * i + 1])
end
pos = pos + 2 * nnx
if #ARGV >= pos then hset_pairs(KEYS[2], pos, #ARGV) end
return redis.call('HLEN', KEYS[2])
