--[[
apply.lua: applies one account's events of a batch to its journey state and
reads back the raw aggregates the signals are derived from (jd_signals.c) and
the states of the rules the caller names. One EVALSHA per account per batch;
with zero events it only reads (jd_state_inspect uses it that way, possibly
at another as-of instant).

Deterministic: no TIME, no random, no iteration over unordered tables that
could change what is written (names are sorted first); the result depends
only on the keys and ARGV, so replays, replicas and AOF converge. Every
update is idempotent and commutative: set inserts, min/max, last-writer-wins
by (occurred_at, event_id), so duplicates and any order of the same events
give the same state. What an event *means* (usage or not, its user, its
feature, its case) is decided in C (jd_state.c); which days each window
covers is decided in C too (jd_signals_windows): this script does set
algebra over the days it is told.

Key layout of account A. T is A as a hash tag (jd_state_key_tag: A verbatim,
with '%' and '}' escaped as %25 and %7D), so every key of A lives in the
slot of T in Redis Cluster. docs/state.md has the same table with measured
sizes.
  KEYS[1] <p>:{T}:          prefix of the per-day keys below (not a key
                            itself); keys built from it carry the same tag
  KEYS[2] <p>:{T}:meta      hash: as_of, as_of_day; milestones (min ms):
                            start_at, kickoff_at, go_live_at, first_value_at,
                            value_realized_at; latest-of (max ms):
                            last_event_at, last_usage_at, sponsor_changed_at;
                            cases_open, sev1_open (counts); written by
                            commit.lua: healthy_adoption_at, stage,
                            previous_stage, stage_changed_at
  KEYS[3] <p>:{T}:attr      hash: LWW name -> value (account_updated
                            attributes normalised in C, nps_last, csat_last)
  KEYS[4] <p>:{T}:attr_ts   hash: LWW name -> stamp
                            "<occurred_at, 13 digits>|<event_id>"
  KEYS[5] <p>:{T}:days      zset: every day that has per-day keys
                            (member = score = day), for pruning and reads
  KEYS[6] <p>:{T}:rules     hash: rule_id -> jd_rule_state_format text
  KEYS[7] <p>:{T}:nps       zset: NPS answers of the last H days,
                            member "<value>:<event hash>", score = day
  KEYS[8] <p>:{T}:cases     hash: case_id -> "<o|c><1|0><stamp>": the
                            latest case event (opened/closed, sev1 or not)
                            by stamp "<occurred_at 13 digits>|<event_id>"
  KEYS[9]  <p>:{T}:users    activity hash: user (64-bit hash) -> days active
  KEYS[10] <p>:{T}:feats    activity hash: core feature index -> days used
  KEYS[11] <p>:{T}:copen    activity hash: case_id -> days opened
  <p>:{T}:e:<day>   set: usage event ids (64-bit hashes) of that day
  <p>:{T}:x:<day>   set: other event ids (64-bit hashes) of that day
An activity hash maps a member to L * 2^35 + M: L is the latest day the
member was active, bit k of M says it was active on day L-k (k < 35, the
farthest any window reaches). Adding day d is a set union truncated to
[L'-34, L'], L' = max(L, d): idempotent and commutative, and it always
holds every day of [D-34, D] since L <= D. Entries with L < D-34 can no
longer count in any window and are dropped when D moves.
Per-day keys exist only for days in the retention horizon [D-R+1, D] and
are deleted here when D moves past them (event time). With an idle expiry
E > 0 (ARGV[3]) the per-day keys, the days index, the activity hashes and
the nps zset also get a TTL of E ms on each write, so an account that
receives nothing shrinks to its profile and milestones (meta, attr,
attr_ts, rules, cases).

ARGV:
  [1]        R, retention in days (>= 35, the farthest window reach)
  [2]        H, NPS horizon in days (90)
  [3]        E, idle expiry in ms (0: never)
  [4], [5]   as-of override for reads: ms and its day, or "" "" (inspect
             --as-of; only with zero events)
  [6]        the window specs, "K:first:last:param,..." : kind (U E A
             P F C, see jd_window.h), back_first, back_last, param: the
             days [D-back_last, D-back_first]; a param < 0 means "known
             empty" (no core features configured)
  [7]        K, number of rule ids; then the K rule ids
  then       N, number of events; then N events of 10 + 2*n fields:
             id (64-bit hash of event_id, decimal), day, occurred_at (ms,
             13 digits zero-padded), flags, user (hash) or "", core
             feature index or "", case_id or "", NPS value or "",
             event_id for stamps (or "" when the event writes no LWW
             value), n, then n (name, value) LWW pairs
             flags is a string of letters, decided in C (u, when
             present, comes first):
               u usage    s start    k kickoff    g go_live
               v value (first_value or a value feature)
               r value_realized    p sponsor_changed
               o case_opened    c case_closed    1 sev1 case
               n NPS answer (the value field is set)

Reply: { as_of|nil, D|nil, { applied, duplicates, late },
         { one count per window spec }, { nps count, nps sum (text) },
         { meta name, value, ... }, { attr name, value, ... },
         { rule state|nil, ... (K entries) } }
  D           the day the windows were read at (as-of day, or override)
  applied     events not seen before (old non-usage events beyond the
              horizon cannot be checked and count as applied; re-applying
              them is harmless)
  duplicates  events whose id was already recorded for their day
  late        usage events older than the horizon: not added to windows
              (their milestone/latest-of/LWW effects still apply)
]]

local pfx = KEYS[1]
local k_meta, k_attr, k_attr_ts, k_days = KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local k_rules, k_nps, k_cases = KEYS[6], KEYS[7], KEYS[8]
local ACT_KEY = { u = KEYS[9], f = KEYS[10], c = KEYS[11] }
local ACT_KINDS = { 'u', 'f', 'c' }
local REACH = 35             -- days an activity mask holds (JD_WINDOW_MAX_DAYS)
local SPAN = 2 ^ REACH

local retention = tonumber(ARGV[1])
local nps_days = tonumber(ARGV[2])
local idle_ms = tonumber(ARGV[3])
local override_t, override_day = tonumber(ARGV[4]), tonumber(ARGV[5])
local rpos = 7
local nrules = tonumber(ARGV[rpos])
local epos = rpos + 1 + nrules
local nev = tonumber(ARGV[epos])

local DAY_KINDS = { 'e', 'x' }
local MIN_FLAGS = { s = 'start_at', k = 'kickoff_at', g = 'go_live_at',
                    v = 'first_value_at', r = 'value_realized_at' }
local MAX_FLAGS = { u = 'last_usage_at', p = 'sponsor_changed_at' }

local function has(flags, c)
  return string.find(flags, c, 1, true) ~= nil
end

local function fmt(x)
  return string.format('%.0f', x)
end

-- (stamp, value) pairs compare as strings; the stamp's time part has a
-- fixed width, so this is (occurred_at, event_id) order; on equal stamps
-- (one event carrying a name twice) the greater value wins: no order
-- matters.
local function newer(s1, v1, s2, v2)
  return s1 > s2 or (s1 == s2 and v1 > v2)
end

local function sorted_keys(t)
  local names = {}
  for name in pairs(t) do names[#names + 1] = name end
  table.sort(names)
  return names
end

-- redis.call with a long argument list, in slices (unpack() of thousands
-- of values would overflow Lua's C stack).
local function call_sliced(cmd, key, list)
  local i = 1
  while i <= #list do
    local j = math.min(i + 999, #list)
    redis.call(cmd, key, unpack(list, i, j))
    i = j + 1
  end
end

local function parse_events()
  local events, pos = {}, epos + 1
  for i = 1, nev do
    local na = tonumber(ARGV[pos + 9])
    events[i] = { id = ARGV[pos], day_s = ARGV[pos + 1],
                  day = tonumber(ARGV[pos + 1]), ts = ARGV[pos + 2],
                  t = tonumber(ARGV[pos + 2]), flags = ARGV[pos + 3],
                  user = ARGV[pos + 4], feature = ARGV[pos + 5],
                  case = ARGV[pos + 6], nps = ARGV[pos + 7],
                  eid = ARGV[pos + 8], apos = pos + 10, na = na }
    pos = pos + 10 + 2 * na
  end
  return events
end

local events = parse_events()
local meta = {}
do
  local r = redis.call('HGETALL', k_meta)
  for i = 1, #r, 2 do meta[r[i]] = r[i + 1] end
end
local as_of, as_of_day = tonumber(meta.as_of), tonumber(meta.as_of_day)
local stored_day = as_of_day
local meta_changed = {}

-- The as-of instant moves to the latest event of the whole batch first, so
-- whether an event is late does not depend on its place in the batch.
for _, ev in ipairs(events) do
  if as_of == nil or ev.t > as_of then as_of, as_of_day = ev.t, ev.day end
end
local horizon = as_of_day and (as_of_day - retention + 1)
local nps_horizon = as_of_day and (as_of_day - nps_days + 1)

local function set_meta(name, value)
  if meta[name] ~= value then
    meta[name] = value
    meta_changed[name] = true
  end
end

-- min/max on meta timestamps, kept as numbers while the batch runs and
-- written back as text once (write_meta).
local mnum = {}

local function meta_num(name)
  local v = mnum[name]
  if v == nil then
    v = tonumber(meta[name]) or false
    mnum[name] = v
  end
  return v
end

local function lower(name, t)
  local cur = meta_num(name)
  if not cur or t < cur then mnum[name] = t; meta_changed[name] = true end
end

local function higher(name, t)
  local cur = meta_num(name)
  if not cur or t > cur then mnum[name] = t; meta_changed[name] = true end
end

-- ---- per-event effects --------------------------------------------------

local applied, dups, late = 0, 0, 0
local touched = {}           -- day -> true: days that got per-day keys
local act_adds = { u = {}, f = {}, c = {} }  -- kind -> member -> { days }
local best_attr, best_case = {}, {}
local nps_adds = {}          -- { score, member, ... }

local function act_add(kind, member, day)
  local days = act_adds[kind][member]
  if days == nil then days = {}; act_adds[kind][member] = days end
  days[#days + 1] = day
end

-- Records ev in its day's id set; false when it was there already.
local function record(ev, usage)
  local kind = usage and 'e' or 'x'
  if redis.call('SADD', pfx .. kind .. ':' .. ev.day_s, ev.id) == 0 then
    return false
  end
  touched[ev.day_s] = true
  return true
end

-- Window effects: only for events inside the horizon, seen for the first
-- time.
local function apply_windows(ev, usage)
  if usage then
    if ev.user ~= '' then act_add('u', ev.user, ev.day) end
    if ev.feature ~= '' then act_add('f', ev.feature, ev.day) end
  end
  if ev.case ~= '' and has(ev.flags, 'o') then act_add('c', ev.case, ev.day) end
end

local function keep_best(best, name, stamp, value)
  local b = best[name]
  if b == nil or newer(stamp, value, b[1], b[2]) then
    best[name] = { stamp, value }
  end
end

-- Effects that apply whatever the event's age: milestones (min),
-- latest-of (max), last-writer-wins values, case states, NPS answers
-- inside their own horizon.
local function apply_scalars(ev)
  local f = ev.flags
  for i = 1, #f do
    local c = string.sub(f, i, i)
    if MIN_FLAGS[c] then lower(MIN_FLAGS[c], ev.t)
    elseif MAX_FLAGS[c] then higher(MAX_FLAGS[c], ev.t) end
  end
  higher('last_event_at', ev.t)
  if ev.eid == '' then return end   -- no last-writer-wins value, no case
  local stamp = ev.ts .. '|' .. ev.eid
  for j = 0, ev.na - 1 do
    keep_best(best_attr, ARGV[ev.apos + 2 * j], stamp, ARGV[ev.apos + 2 * j + 1])
  end
  if ev.case ~= '' and (has(f, 'o') or has(f, 'c')) then
    local v = (has(f, 'o') and 'o' or 'c') .. (has(f, '1') and '1' or '0')
    keep_best(best_case, ev.case, stamp, v)
  end
end

local function apply_nps(ev)
  if ev.nps ~= '' and ev.day >= nps_horizon then
    nps_adds[#nps_adds + 1] = ev.day
    nps_adds[#nps_adds + 1] = ev.nps .. ':' .. ev.id
  end
end

for _, ev in ipairs(events) do
  local usage = string.sub(ev.flags, 1, 1) == 'u'   -- C puts u first
  if ev.day >= horizon then
    if record(ev, usage) then
      applied = applied + 1
      apply_windows(ev, usage)
      apply_scalars(ev)
      apply_nps(ev)
    else
      dups = dups + 1
    end
  else
    if usage then late = late + 1 else applied = applied + 1 end
    apply_scalars(ev)
    apply_nps(ev)
  end
end

-- ---- writes ---------------------------------------------------------------

-- Last-writer-wins of the batch's best attribute values against the stored.
local function write_attrs()
  local names = sorted_keys(best_attr)
  if #names == 0 then return end
  local old_ts = redis.call('HMGET', k_attr_ts, unpack(names))
  local old_v = redis.call('HMGET', k_attr, unpack(names))
  local ts_args, v_args = {}, {}
  for i, name in ipairs(names) do
    local b = best_attr[name]
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

-- 1 when a stored case value is open (and sev1), else 0.
local function is_open(v) return v and string.sub(v, 1, 1) == 'o' and 1 or 0 end
local function is_sev1(v) return v and string.sub(v, 1, 2) == 'o1' and 1 or 0 end

-- Last-writer-wins per case; the open and sev1 counters move with the
-- transitions, inside this atomic script, so they always equal the number
-- of open entries.
local function write_cases()
  local ids = sorted_keys(best_case)
  if #ids == 0 then return end
  local old = redis.call('HMGET', k_cases, unpack(ids))
  local args, d_open, d_sev1 = {}, 0, 0
  for i, id in ipairs(ids) do
    local b, o = best_case[id], old[i]
    local new = b[2] .. b[1]
    if not o or newer(b[1], b[2], string.sub(o, 3), string.sub(o, 1, 2)) then
      args[#args + 1] = id; args[#args + 1] = new
      d_open = d_open + is_open(new) - is_open(o)
      d_sev1 = d_sev1 + is_sev1(new) - is_sev1(o)
    end
  end
  if #args > 0 then call_sliced('HSET', k_cases, args) end
  if d_open ~= 0 then
    set_meta('cases_open', tostring((tonumber(meta.cases_open) or 0) + d_open))
  end
  if d_sev1 ~= 0 then
    set_meta('sev1_open', tostring((tonumber(meta.sev1_open) or 0) + d_sev1))
  end
end

local function write_meta()
  for name, v in pairs(mnum) do
    if v and meta_changed[name] then meta[name] = fmt(v) end
  end
  set_meta('as_of', fmt(as_of))
  set_meta('as_of_day', fmt(as_of_day))
  local args = {}
  for _, name in ipairs(sorted_keys(meta_changed)) do
    args[#args + 1] = name; args[#args + 1] = meta[name]
  end
  if #args > 0 then redis.call('HSET', k_meta, unpack(args)) end
end

local function expire(key)
  if idle_ms > 0 then redis.call('PEXPIRE', key, idle_ms) end
end

-- Adds day d to an activity value (nil: none yet); see the header.
local function act_merge(v, d)
  if v == nil then return d * SPAN + 1 end
  local last, mask = math.floor(v / SPAN), v % SPAN
  if d > last then
    local shift = d - last
    if shift >= REACH then return d * SPAN + 1 end
    -- drop the bits that fall out before shifting: stays below 2^35
    return d * SPAN + (mask % 2 ^ (REACH - shift)) * 2 ^ shift + 1
  end
  local k = last - d
  if k < REACH and math.floor(mask / 2 ^ k) % 2 == 0 then
    return v + 2 ^ k
  end
  return v
end

local function write_activity()
  for _, kind in ipairs(ACT_KINDS) do
    local members = sorted_keys(act_adds[kind])
    if #members > 0 then
      local key = ACT_KEY[kind]
      local old = redis.call('HMGET', key, unpack(members))
      local args = {}
      for i, m in ipairs(members) do
        local v = nil
        if old[i] then v = tonumber(old[i]) end
        local nv = v
        for _, d in ipairs(act_adds[kind][m]) do nv = act_merge(nv, d) end
        if nv ~= v then
          args[#args + 1] = m; args[#args + 1] = fmt(nv)
        end
      end
      if #args > 0 then call_sliced('HSET', key, args) end
      expire(key)
    end
  end
end

-- Indexes the touched days, then, when D moved, drops every day before
-- the horizon (when D did not move nothing new can have fallen out of it:
-- days are only ever written inside it).
local function write_days()
  local days = {}
  for d in pairs(touched) do days[#days + 1] = tonumber(d) end
  table.sort(days)
  local args = {}
  for _, d in ipairs(days) do
    args[#args + 1] = d; args[#args + 1] = tostring(d)
    for _, kind in ipairs(DAY_KINDS) do expire(pfx .. kind .. ':' .. d) end
  end
  if #args > 0 then
    call_sliced('ZADD', k_days, args)
    expire(k_days)
  end
  if stored_day == as_of_day then return end
  local old = redis.call('ZRANGEBYSCORE', k_days, '-inf', '(' .. horizon)
  for _, d in ipairs(old) do
    local keys = {}
    for _, kind in ipairs(DAY_KINDS) do keys[#keys + 1] = pfx .. kind .. ':' .. d end
    redis.call('DEL', unpack(keys))
  end
  if #old > 0 then
    redis.call('ZREMRANGEBYSCORE', k_days, '-inf', '(' .. horizon)
  end
end

local function write_nps()
  if #nps_adds > 0 then
    call_sliced('ZADD', k_nps, nps_adds)
    expire(k_nps)
  end
  if stored_day ~= as_of_day then
    redis.call('ZREMRANGEBYSCORE', k_nps, '-inf', '(' .. nps_horizon)
  end
end

if nev > 0 then
  write_attrs()
  write_cases()
  write_meta()
  write_activity()
  write_days()
  write_nps()
end

-- ---- reads --------------------------------------------------------------------

-- No state: nothing to read, whatever the override.
local D = as_of_day and (override_day or as_of_day)
if D and override_t then as_of = override_t end

local present = {}           -- day -> true: the day has per-day keys
local scards = {}

local function card(kind, d)
  if not present[d] then return 0 end
  local k = kind .. d
  local n = scards[k]
  if n == nil then
    n = redis.call('SCARD', pfx .. kind .. ':' .. d)
    scards[k] = n
  end
  return n
end

-- Bits set in x (x < 2^31), with Redis Lua's 32-bit bit library: the
-- SWAR steps leave per-byte counts, whose sum is x mod 255 (< 255).
local band, rshift = bit.band, bit.rshift
local function popcount(x)
  x = x - band(rshift(x, 1), 0x55555555)
  x = band(x, 0x33333333) + band(rshift(x, 2), 0x33333333)
  x = band(x + rshift(x, 4), 0x0F0F0F0F)
  return x % 255
end

-- The activity values of one kind, decoded: { last, mask, last, mask, ... }.
-- In the write path (prune) entries too old for any window are dropped.
local function activity(kind, prune)
  local r = redis.call('HGETALL', ACT_KEY[kind])
  local out, stale = {}, {}
  for i = 1, #r, 2 do
    local v = tonumber(r[i + 1])
    local last = math.floor(v / SPAN)
    if last < D - (REACH - 1) then
      stale[#stale + 1] = r[i]
    else
      out[#out + 1] = last
      out[#out + 1] = v % SPAN
    end
  end
  if prune and #stale > 0 then
    table.sort(stale)
    local i = 1
    while i <= #stale do
      local j = math.min(i + 999, #stale)
      redis.call('HDEL', ACT_KEY[kind], unpack(stale, i, j))
      i = j + 1
    end
  end
  return out
end

-- Counts, for each spec of one activity kind, the members active on at
-- least spec.need days of [D-last, D-first]; one pass over the members,
-- each mask first moved to offsets from D (this is the hot loop of the
-- script: locals only, two arithmetic steps per spec).
local function count_active(acts, specs)
  local floor, nspec = math.floor, #specs
  for _, sp in ipairs(specs) do
    sp.n, sp.lo2, sp.span = 0, 2 ^ sp.first, 2 ^ (sp.last - sp.first + 1)
  end
  for i = 1, #acts, 2 do
    local shift, dm = D - acts[i], acts[i + 1]
    if shift > 0 then
      dm = (dm % 2 ^ (REACH - shift)) * 2 ^ shift  -- stays below 2^35
    elseif shift < 0 then
      dm = floor(dm / 2 ^ (-shift))                -- inspect --as-of: drop later days
    end
    for k = 1, nspec do
      local sp = specs[k]
      local bits = floor(dm / sp.lo2) % sp.span
      if bits > 0 and (sp.need <= 1 or popcount(bits) >= sp.need) then
        sp.n = sp.n + 1
      end
    end
  end
end

local ACT_OF = { U = 'u', P = 'u', F = 'f', C = 'c' }

-- Every window spec over the days [D-last, D-first]: U P F C from the
-- activity hashes (each read once, one pass per kind), E A from the sizes
-- of the per-day id sets. A spec with param < 0 is known to be empty (no
-- core features configured) and reads nothing.
local function windows(prune)
  local specs, by_act = {}, { u = {}, f = {}, c = {} }
  for k, a, b, p in string.gmatch(ARGV[6], '(%a):(%d+):(%d+):(%-?%d+)') do
    local sp = { kind = k, first = tonumber(a), last = tonumber(b),
                 param = tonumber(p), n = 0 }
    sp.need = sp.kind == 'P' and sp.param or 1
    specs[#specs + 1] = sp
    local act = ACT_OF[sp.kind]
    if act and sp.param >= 0 then table.insert(by_act[act], sp) end
  end
  for _, act in ipairs(ACT_KINDS) do
    if #by_act[act] > 0 then count_active(activity(act, prune), by_act[act]) end
  end
  local need_days = false
  for _, sp in ipairs(specs) do
    if not ACT_OF[sp.kind] then need_days = true end
  end
  if need_days then
    for _, d in ipairs(redis.call('ZRANGEBYSCORE', k_days, D - (REACH - 1), D)) do
      present[tonumber(d)] = true
    end
  end
  local out = {}
  for _, sp in ipairs(specs) do
    if not ACT_OF[sp.kind] then
      for off = sp.first, sp.last do
        local c = card('e', D - off)
        if sp.kind == 'E' then sp.n = sp.n + c elseif c > 0 then sp.n = sp.n + 1 end
      end
    end
    out[#out + 1] = sp.n
  end
  return out
end

-- NPS answers of [D-H+1, D]: count and sum (as text: Lua numbers become
-- integers in replies).
local function nps()
  local r = redis.call('ZRANGEBYSCORE', k_nps, D - nps_days + 1, D)
  local sum = 0
  for _, m in ipairs(r) do
    sum = sum + tonumber(string.match(m, '^([^:]+):'))
  end
  return { #r, string.format('%.17g', sum) }
end

local function flat(t)
  local out = {}
  for _, name in ipairs(sorted_keys(t)) do
    out[#out + 1] = name; out[#out + 1] = t[name]
  end
  return out
end

local states = {}
if nrules > 0 then
  states = redis.call('HMGET', k_rules, unpack(ARGV, rpos + 1, rpos + nrules))
end

if D == nil then
  return { false, false, { applied, dups, late }, {}, { 0, '0' }, flat(meta),
           {}, states }
end
return { as_of, D, { applied, dups, late }, windows(nev > 0), nps(),
         flat(meta), redis.call('HGETALL', k_attr), states }
