-- store.lua: the fenced writes of jd_store (state/jd_store.c). Two modes,
-- chosen by ARGV[1], so one script (one SHA) serves both.
--
-- "r": record writes. For each record, in order, KEYS holds its record key
-- and, when it has signal pairs, its sig key; ARGV (from ARGV[2]) holds
-- data, the pair count c, then 2*c field/value strings. A record is written
-- unless the stored one's epoch (bytes 2..9 in Lua's 1-based indexing, big
-- endian) is greater than the new one's; with c > 0 a written record also
-- sets those fields of its sig hash (HSET: the fields not given keep their
-- values). Returns one integer per record: 1
-- refused, 0 written.
--
-- "p": one partition write. KEYS[1] the partition hash, KEYS[2] its
-- deadline index; ARGV[2] the writer's epoch, ARGV[3] the position and
-- ARGV[4] the clock ("" for both: keep the stored value), then member /
-- deadline pairs ("0": remove). Refused (returns 1) when the stored epoch
-- is greater than the writer's; epochs are below 2^53, so Lua numbers
-- compare them exactly. Returns 0 when written.
--
-- Epochs are compared byte by byte with string.byte, not with Lua's '<' on
-- strings: that uses strcoll, and redis-server sets LC_COLLATE from the
-- environment, so a string comparison of binary bytes could follow a
-- locale's collation instead of byte order.
--
-- Every write is idempotent: sending the same call twice leaves the same
-- state (the second record write finds an equal epoch and writes again).

-- 1 when the 8 epoch bytes of `old` are greater than those of `new`.
local function epoch_greater(old, new)
    if #old < 9 then
        return false
    end
    for i = 2, 9 do
        local a, b = string.byte(old, i), string.byte(new, i) or 0
        if a ~= b then
            return a > b
        end
    end
    return false
end

-- HSET in chunks of 64 pairs (unpack has a stack limit).
local function hset_pairs(key, argv, from, count)
    local i, last = from, from + 2 * count - 1
    while i <= last do
        local stop = math.min(i + 127, last)
        redis.call('HSET', key, unpack(argv, i, stop))
        i = stop + 1
    end
end

local function write_records()
    local out, k, a = {}, 1, 2
    while a <= #ARGV do
        local rec, data, c = KEYS[k], ARGV[a], tonumber(ARGV[a + 1])
        local sig = nil
        k = k + 1
        if c > 0 then
            sig = KEYS[k]
            k = k + 1
        end
        local old = redis.call('GETRANGE', rec, 0, 8) -- the head: version + epoch
        if old and epoch_greater(old, data) then
            out[#out + 1] = 1
        else
            redis.call('SET', rec, data)
            if sig then
                hset_pairs(sig, ARGV, a + 2, c)
            end
            out[#out + 1] = 0
        end
        a = a + 2 + 2 * c
    end
    return out
end

local function write_part()
    local part, timers = KEYS[1], KEYS[2]
    local epoch = tonumber(ARGV[2])
    local stored = tonumber(redis.call('HGET', part, 'epoch') or '0')
    if stored > epoch then
        return 1
    end
    redis.call('HSET', part, 'epoch', ARGV[2])
    if ARGV[3] ~= '' then
        redis.call('HSET', part, 'position', ARGV[3])
    end
    if ARGV[4] ~= '' then
        redis.call('HSET', part, 'clock', ARGV[4])
    end
    for i = 5, #ARGV - 1, 2 do
        if ARGV[i + 1] == '0' then
            redis.call('ZREM', timers, ARGV[i])
        else
            redis.call('ZADD', timers, ARGV[i + 1], ARGV[i])
        end
    end
    return 0
end

if ARGV[1] == 'r' then
    return write_records()
elseif ARGV[1] == 'p' then
    return write_part()
end
return redis.error_reply('store.lua: unknown mode')
