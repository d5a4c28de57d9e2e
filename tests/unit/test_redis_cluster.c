/*
 * test_redis_cluster: the pure parts of the cluster-aware connection
 * (state/jd_redis.c): CRC16, hash slots with {tags}, the key of a command
 * and the parsing of MOVED / ASK redirections. No Redis.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "jd_redis.h"

static int slot_of(const char *key)
{
    return jd_redis_keyslot(key, strlen(key));
}

Test(redis_cluster, crc16_known_vectors)
{
    cr_assert_eq(jd_redis_crc16("123456789", 9), 0x31C3);
    cr_assert_eq(jd_redis_crc16("", 0), 0);
    cr_assert_eq(jd_redis_crc16("A", 1), 0x58E5);
}

Test(redis_cluster, keyslot_matches_redis)
{
    /* values given by CLUSTER KEYSLOT */
    cr_assert_eq(slot_of("123456789"), 0x31C3);
    cr_assert_eq(slot_of("foo"), 12182);
    cr_assert_eq(slot_of("somekey"), 11058);
    cr_assert_eq(slot_of("foo{hash_tag}"), 2515);
    cr_assert_eq(slot_of("hello"), 866);
}

Test(redis_cluster, hash_tag_rules)
{
    /* the bytes between the first '{' and the next '}' */
    cr_assert_eq(slot_of("{user1000}.following"), slot_of("user1000"));
    cr_assert_eq(slot_of("{user1000}.followers"), slot_of("user1000"));
    cr_assert_eq(slot_of("foo{bar}{zap}"), slot_of("bar"));
    cr_assert_eq(slot_of("foo{{bar}}zap"), slot_of("{bar"));
    /* an empty tag or no closing brace: the whole key */
    cr_assert_eq(slot_of("foo{}{bar}"),
                 jd_redis_crc16("foo{}{bar}", 10) & 16383);
    cr_assert_eq(slot_of("foo{bar"), jd_redis_crc16("foo{bar", 7) & 16383);
    /* journeyd's keys of one account share its slot */
    cr_assert_eq(slot_of("jd:{acct-7}:meta"), slot_of("jd:{acct-7}:u:20001"));
    cr_assert_eq(slot_of("jd:{acct-7}:meta"), slot_of("acct-7"));
    /* binary-safe: a NUL inside the tag counts */
    cr_assert_neq(jd_redis_keyslot("{a\0b}", 5), jd_redis_keyslot("{a\0c}", 5));
}

Test(redis_cluster, command_key_position)
{
    const char *evalsha[] = {"EVALSHA", "abc", "2", "jd:{x}:a", "jd:{x}:b", "1"};
    size_t evl[] = {7, 3, 1, 8, 8, 1};
    const char *nokeys[] = {"EVALSHA", "abc", "0", "arg"};
    size_t nkl[] = {7, 3, 1, 3};
    const char *sadd[] = {"sadd", "jd:accounts", "a", "b"};
    size_t sl[] = {4, 11, 1, 1};
    const char *load[] = {"SCRIPT", "LOAD", "return 1"};
    size_t ll[] = {6, 4, 8};
    const char *scan[] = {"SCAN", "0", "MATCH", "jd:*"};
    size_t scl[] = {4, 1, 5, 4};

    cr_assert_eq(jd_redis_command_slot(6, evalsha, evl), slot_of("x"));
    cr_assert_eq(jd_redis_command_slot(4, nokeys, nkl), -1);
    cr_assert_eq(jd_redis_command_slot(4, sadd, sl), slot_of("jd:accounts"));
    cr_assert_eq(jd_redis_command_slot(3, load, ll), -1);
    cr_assert_eq(jd_redis_command_slot(4, scan, scl), -1);
    cr_assert_eq(jd_redis_command_slot(1, load, ll), -1);
}

static int parse(const char *s, int *slot, char *host, int *port)
{
    return jd_redis_parse_redirect(s, strlen(s), slot, host, 64, port);
}

Test(redis_cluster, redirect_parsing)
{
    char host[64];
    int slot = -1, port = -1;

    cr_assert_eq(parse("MOVED 3999 127.0.0.1:6381", &slot, host, &port),
                 JD_REDIS_MOVED);
    cr_assert_eq(slot, 3999);
    cr_assert_str_eq(host, "127.0.0.1");
    cr_assert_eq(port, 6381);
    cr_assert_eq(parse("ASK 16383 redis-2.local:7000", &slot, host, &port),
                 JD_REDIS_ASK);
    cr_assert_eq(slot, 16383);
    cr_assert_str_eq(host, "redis-2.local");
    cr_assert_eq(port, 7000);
    /* IPv6: the port follows the last ':' */
    cr_assert_eq(parse("MOVED 0 ::1:7001", &slot, host, &port), JD_REDIS_MOVED);
    cr_assert_str_eq(host, "::1");
    cr_assert_eq(port, 7001);
    /* Redis leaves the host out when it does not know its own address */
    cr_assert_eq(parse("MOVED 12 :7002", &slot, host, &port), JD_REDIS_MOVED);
    cr_assert_str_eq(host, "");
    cr_assert_eq(port, 7002);
}

Test(redis_cluster, redirect_parsing_rejects_malformed)
{
    char host[64];
    int slot, port;
    const char *bad[] = {
        "NOSCRIPT No matching script", "MOVED", "MOVED 3999", "MOVED x 1.2.3.4:1",
        "MOVED 16384 1.2.3.4:1", "MOVED -1 1.2.3.4:1", "MOVED 1 1.2.3.4",
        "MOVED 1 1.2.3.4:", "MOVED 1 1.2.3.4:0", "MOVED 1 1.2.3.4:65536",
        "MOVED 1 1.2.3.4:12x", "ASK 1  ", "moved 1 1.2.3.4:1", ""};

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(parse(bad[i], &slot, host, &port), 0, "%s", bad[i]);
    /* a host longer than the buffer is refused, not cut */
    cr_assert_eq(jd_redis_parse_redirect("MOVED 1 abcdefgh:1", 18, &slot, host, 4,
                                         &port), 0);
}
