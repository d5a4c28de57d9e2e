--[[
apply.lua: applies one account's events of a batch to its journey state and
reads back the raw aggregates the signals are derived from (jd_signals.c) and
the states of the rules the caller names. One EVALSHA per account per batch;
with zero events it only reads (jd_state_inspect uses it that way).

Deterministic: no TIME, no random, no iteration over unordered replies that
could change what is written; the result depends only on the keys and ARGV,
so replays, replicas and AOF converge. Every update is idempotent and
commutative (set inserts, min/max, last-writer-wins), so duplicates and any
order of the same events give the same state.

Key layout of account A. T is A as a hash tag (jd_state_key_tag: A verbatim,
with '%' and '}' escaped as %25 and %7D), so every key of A lives in the
slot of T in Redis Cluster:
  KEYS[1] <p>:{T}:          prefix of the per-day keys below (not a key
                            itself); keys built from it carry the same tag,
                            so they are in the same slot as KEYS[2..6]
  KEYS[2] <p>:{T}:meta      hash: as_of, as_of_day, start_at,
                            first_value_at, last_event_at (decimal ms; day)
  KEYS[3] <p>:{T}:attr      hash: attribute name -> value (normalised in C)
  KEYS[4] <p>:{T}:attr_ts   hash: attribute name -> LWW stamp
                            "<occurred_at, 13 digits>|<event_id>"
  KEYS[5] <p>:{T}:days      zset: every day that has per-day keys
                            (member = score = day), for pruning
  KEYS[6] <p>:{T}:rules     hash: rule_id -> jd_rule_state_format text
  <p>:{T}:u:<day>   set: user ids of usage events on that UTC day
  <p>:{T}:e:<day>   set: event ids of usage events on that day
  <p>:{T}:x:<day>   set: event ids of other events on that day (dedupe)
Per-day keys exist only for days in the retention horizon [D-R+1, D] and
are deleted here when D moves past them (never by TTL: replays must give
the same state whatever the wall clock).

ARGV:
  [1]        R, retention in days (>= 28, the longest window)
  [2]        K, number of rule ids
  [3..2+K]   the rule ids whose states are returned
  [3+K]      N, number of events; then N events of 6 + 2*n_attrs fields:
             event_id, day, occurred_at (ms, 13 digits zero-padded),
             flags, user_id or "", n_attrs, then n_attrs (name, value)
             flags is a string of letters, decided in C:
               u  usage event (feature_used or login with a user id)
               s  start event (account_created, contract_signed)
               v  value event (first_value, or feature_used of a value
                  feature)
             attributes are only the ones that feed signals, validated and
             normalised in C (renewal_at as decimal ms).

Reply: { as_of|nil, users_1d, users_7d, users_28d, start_at|nil,
         first_value_at|nil, last_event_at|nil, applied, duplicates, late,
         { attr name, value, ... }, { rule state|nil, ... (K entries) } }
  applied     events not seen before (old non-usage events beyond the
              horizon cannot be checked and count as applied; re-applying
              them is harmless)
  duplicates  events whose id was already recorded for their day
  late        usage events older than the horizon: not added to windows
              (their min/max/attribute effects still apply)
]]

local pfx = KEYS[1]
local k_meta, k_attr, k_attr_ts = KEYS[2], KEYS[3], KEYS[4]
local k_days, k_rules = KEYS[5], KEYS[6]

local retention = tonumber(ARGV[1])
local nrules = tonumber(ARGV[2])
local nev = tonumber(ARGV[3 + nrules])

local function has(flags, c)
  return string.find(flags, c, 1, true) ~= nil
end

local function lower(a, b)
  if a == nil or b < a then return b end
  return a
end

local function higher(a, b)
  if a == nil or b > a then return b end
  return a
end

-- (stamp, value) pairs are compared as strings; on equal stamps (the same
-- event carrying a key twice) the greater value wins, so no order matters.
local function newer(s1, v1, s2, v2)
  return s1 > s2 or (s1 == s2 and v1 > v2)
end

local function parse_events()
  local events, pos = {}, 4 + nrules
  for i = 1, nev do
    local na = tonumber(ARGV[pos + 5])
    events[i] = { id = ARGV[pos], day_s = ARGV[pos + 1],
                  day = tonumber(ARGV[pos + 1]), ts = ARGV[pos + 2],
                  t = tonumber(ARGV[pos + 2]), flags = ARGV[pos + 3],
                  user = ARGV[pos + 4], apos = pos + 6, na = na }
    pos = pos + 6 + 2 * na
  end
  return events
end

local events = parse_events()
local m = redis.call('HMGET', k_meta, 'as_of', 'as_of_day', 'start_at',
                     'first_value_at', 'last_event_at')
local as_of, as_of_day = tonumber(m[1]), tonumber(m[2])
local start_at, first_value_at = tonumber(m[3]), tonumber(m[4])
local last_event_at = tonumber(m[5])

-- The as-of instant moves to the latest event of the whole batch first, so
-- whether an event is late does not depend on its place in the batch.
for _, ev in ipairs(events) do
  if as_of == nil or ev.t > as_of then as_of, as_of_day = ev.t, ev.day end
end
local horizon = as_of_day and (as_of_day - retention + 1)

local applied, dups, late = 0, 0, 0
local touched, best = {}, {}

-- Records ev in its day's id set; false when it was there already.
local function record(ev, usage)
  local set = usage and 'e:' or 'x:'
  if redis.call('SADD', pfx .. set .. ev.day_s, ev.id) == 0 then
    return false
  end
  touched[ev.day_s] = true
  if usage then redis.call('SADD', pfx .. 'u:' .. ev.day_s, ev.user) end
  return true
end

local function apply_scalars(ev)
  if has(ev.flags, 's') then start_at = lower(start_at, ev.t) end
  if has(ev.flags, 'v') then first_value_at = lower(first_value_at, ev.t) end
  last_event_at = higher(last_event_at, ev.t)
  local stamp = ev.ts .. '|' .. ev.id
  for j = 0, ev.na - 1 do
    local name, value = ARGV[ev.apos + 2 * j], ARGV[ev.apos + 2 * j + 1]
    local b = best[name]
    if b == nil or newer(stamp, value, b[1], b[2]) then
      best[name] = { stamp, value }
    end
  end
end

for _, ev in ipairs(events) do
  local usage = has(ev.flags, 'u')
  if ev.day >= horizon then
    if record(ev, usage) then
      applied = applied + 1
      apply_scalars(ev)
    else
      dups = dups + 1
    end
  else
    if usage then late = late + 1 else applied = applied + 1 end
    apply_scalars(ev)
  end
end

-- Last-writer-wins of the batch's best attribute values against the stored.
local function write_attrs()
  local names = {}
  for name in pairs(best) do names[#names + 1] = name end
  if #names == 0 then return end
  table.sort(names)
  local old_ts = redis.call('HMGET', k_attr_ts, unpack(names))
  local old_v = redis.call('HMGET', k_attr, unpack(names))
  local ts_args, v_args = {}, {}
  for i, name in ipairs(names) do
    local b = best[name]
    if not old_ts[i] or newer(b[1], b[2], old_ts[i], old_v[i] or '') then
      ts_args[#ts_args + 1] = name; ts_args[#ts_args + 1] = b[1]
      v_args[#v_args + 1] = name; v_args[#v_args + 1] = b[2]
    end
  end
  if #ts_args > 0 then
    redis.call('HSET', k_attr_ts, unpack(ts_args))
    redis.call('HSET', k_attr, unpack(v_args))
  end
end

local function write_meta()
  local args = { 'as_of', tostring(as_of), 'as_of_day', tostring(as_of_day),
                 'last_event_at', tostring(last_event_at) }
  if start_at then
    args[#args + 1] = 'start_at'; args[#args + 1] = tostring(start_at)
  end
  if first_value_at then
    args[#args + 1] = 'first_value_at'
    args[#args + 1] = tostring(first_value_at)
  end
  redis.call('HSET', k_meta, unpack(args))
end

-- Indexes the touched days, then drops every day before the horizon.
local function index_and_prune()
  local days = {}
  for d in pairs(touched) do days[#days + 1] = tonumber(d) end
  table.sort(days)
  local args = {}
  for _, d in ipairs(days) do
    args[#args + 1] = d; args[#args + 1] = tostring(d)
  end
  if #args > 0 then redis.call('ZADD', k_days, unpack(args)) end
  local old = redis.call('ZRANGEBYSCORE', k_days, '-inf', '(' .. horizon)
  for _, d in ipairs(old) do
    redis.call('DEL', pfx .. 'u:' .. d, pfx .. 'e:' .. d, pfx .. 'x:' .. d)
  end
  if #old > 0 then
    redis.call('ZREMRANGEBYSCORE', k_days, '-inf', '(' .. horizon)
  end
end

if nev > 0 then
  write_attrs()
  write_meta()
  index_and_prune()
end

-- Distinct users over the n days ending at the as-of day.
local function users(n)
  if as_of_day == nil then return 0 end
  if n == 1 then return redis.call('SCARD', pfx .. 'u:' .. as_of_day) end
  local keys = {}
  for i = 0, n - 1 do keys[#keys + 1] = pfx .. 'u:' .. (as_of_day - i) end
  return #redis.call('SUNION', unpack(keys))
end

local function opt(x)
  if x == nil then return false end
  return x
end

local states = {}
if nrules > 0 then
  states = redis.call('HMGET', k_rules, unpack(ARGV, 3, 2 + nrules))
end

return { opt(as_of), users(1), users(7), users(28), opt(start_at),
         opt(first_value_at), opt(last_event_at), applied, dups, late,
         redis.call('HGETALL', k_attr), states }
