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
  KEYS[3] <p>:{T}:meta     hash: the account's meta (apply.lua); this
                           script also keeps its field claim,
                           "<n>|<token>": n commits so far, token the
                           last one's

ARGV:
  [1]             S, number of rule states
  [2]             M, number of meta fields to set (HSET)
  [3]             X, number of meta fields to set only if absent (HSETNX:
                  healthy_adoption_at, a first-time-seen value)
  [4]             E, the claim number n the decision was made from (read
                  by apply.lua with the rule states), or "" for no check
  [5]             the commit's token: a hash of everything below, written
                  by the caller
  then            S pairs (rule_id, state text), M pairs (field, value),
                  X pairs (field, value)
  then            pairs (outbox id, payload bytes), any number

The claim. Two instances may decide the same account at once (unkeyed
input, a rebalance overlap). Each decided from the rule states and journey
it read, at claim number E. The commit writes only when the account's
claim is still E, and moves it to E+1 with its token, atomically with
every other write: so at most one decision made from a given state is
stored, an episode number is given to one decision only, and a decision
made from a state that has moved on writes nothing (reply -1: the caller
reads the account again and decides anew). This very commit sent again
(a retry after a lost reply) is recognised and succeeds without writing:
the claim is E+1 with the same token, or, if another commit came in
between, every outbox entry it carries is already there with the same
bytes (so the caller still publishes them). Every write is a
plain HSET or HSETNX. The global outbox index (<p>:outbox, another slot)
is maintained by the C shell around this script.

Reply: the number of entries in the account's outbox afterwards, or -1
when the claim was lost (nothing written).
]]

local nstates, nmeta, nnx = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local expect, token = ARGV[4], ARGV[5]
local fixed = 5 + 2 * ((nstates or 0) + (nmeta or 0) + (nnx or 0))
if nstates == nil or nmeta == nil or nnx == nil or fixed > #ARGV or
   (#ARGV - fixed) % 2 ~= 0 or (expect ~= '' and tonumber(expect) == nil) then
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

-- the claim (see above)
local claim = redis.call('HGET', KEYS[3], 'claim')
local n, last = 0, ''
if claim then
  local a, b = string.match(claim, '^(%d+)|(.*)$')
  n, last = tonumber(a) or 0, b or ''
end
local first_out = fixed + 1
-- true when the commit carries outbox entries and all are stored as they are
local function outbox_stored()
  if #ARGV < first_out then return false end
  for i = first_out, #ARGV, 2 do
    if redis.call('HGET', KEYS[2], ARGV[i]) ~= ARGV[i + 1] then return false end
  end
  return true
end
if expect ~= '' and n ~= tonumber(expect) then
  if (n == tonumber(expect) + 1 and last == token) or outbox_stored() then
    return redis.call('HLEN', KEYS[2])
  end
  return -1
end

local pos = 6
if nstates > 0 then hset_pairs(KEYS[1], pos, pos + 2 * nstates - 1) end
pos = pos + 2 * nstates
if nmeta > 0 then hset_pairs(KEYS[3], pos, pos + 2 * nmeta - 1) end
pos = pos + 2 * nmeta
for i = 0, nnx - 1 do
  redis.call('HSETNX', KEYS[3], ARGV[pos + 2 * i], ARGV[pos + 2 * i + 1])
end
pos = pos + 2 * nnx
if #ARGV >= pos then hset_pairs(KEYS[2], pos, #ARGV) end
redis.call('HSET', KEYS[3], 'claim', string.format('%.0f|%s', n + 1, token))
return redis.call('HLEN', KEYS[2])
