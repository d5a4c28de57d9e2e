--[[
commit.lua: writes one account's changed rule states and its new outbox
entries atomically (one EVALSHA per account), so a trigger is in the outbox
if and only if the rule state that produced it is stored: a crash can never
leave a fired episode without its trigger, or a trigger whose episode will
fire again.

Key layout (see apply.lua; T is the account's hash tag):
  KEYS[1] <p>:{T}:rules    hash: rule_id -> jd_rule_state_format text
  KEYS[2] <p>:{T}:outbox   hash: trigger_id -> encoded trigger (binary)

ARGV:
  [1]             S, number of rule states
  [2..1+2S]       S pairs (rule_id, state text)
  [2+2S..]        pairs (trigger_id, payload bytes), any number
Both writes are plain HSETs: re-running the same commit (a retry after a
lost reply) writes the same values again. The global outbox index
(<p>:outbox, another slot) is maintained by the C shell around this script.

Reply: the number of entries in the account's outbox afterwards.
]]

local nstates = tonumber(ARGV[1])
if nstates == nil or (#ARGV - 1 - 2 * nstates) % 2 ~= 0 then
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

if nstates > 0 then hset_pairs(KEYS[1], 2, 1 + 2 * nstates) end
if #ARGV > 1 + 2 * nstates then hset_pairs(KEYS[2], 2 + 2 * nstates, #ARGV) end
return redis.call('HLEN', KEYS[2])
