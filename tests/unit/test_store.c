/*
 * test_store: jd_store (state/jd_store*.c, state/store.lua) against a real
 * redis-server: claims and the partition fence, the fenced record write,
 * record loads across MGET chunks, the deadline index, the account and
 * outcome sets, round-trip counts, re-sending after a lost connection, and
 * drop_all.
 *
 * Server: $JD_REDIS_SOCKET or $JD_REDIS_PORT when the test script exports
 * one, else a private redis-server per test (tests/unit/redis_srv.h).
 * Tests that kill connections start a private one.
 * Each test uses its own prefix "jdst<pid>" and drops it at the end.
 *
 * Cluster: ctest starts no Redis Cluster (tests/integration/test_cluster.sh
 * does, for the old engine), so cluster_round_trip_fence_and_drop_all
 * starts its own three masters (redis-cli --cluster create) and runs the
 * cluster path: one script call and one GET per record, SADD and SCAN on
 * every master.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jd_record.h"
#include "jd_store.h"
#include "redis_srv.h"

static void setup(void)
{
    srv_setup("jdst");
}

TestSuite(store, .init = setup, .fini = srv_teardown, .timeout = 120);

/* ======================= helpers ======================= */

static jd_store_t *store_on(const srv_t *s, const char *prefix)
{
    jd_store_conf_t sc;
    jd_err_t err;

    jd_store_conf_default(&sc);
    sc.stc_port = s->port;
    sc.stc_unix_path = s->sock[0] ? s->sock : NULL;
    sc.stc_prefix = prefix;
    jd_store_t *st = jd_store_new(&sc, &err);
    cr_assert_not_null(st, "jd_store_new: %s", err.err_msg);
    cr_assert_eq(jd_store_connect(st, &err), 0, "connect: %s", err.err_msg);
    return st;
}

static jd_store_t *store_new(void)
{
    return store_on(&g_srv, g_prefix);
}

/* Drops the prefix through the store itself and checks nothing is left. */
static void store_done(jd_store_t *st)
{
    jd_err_t err;
    cr_assert_geq(jd_store_drop_all(st, &err), 0, "drop_all: %s", err.err_msg);
    jd_store_destroy(st);
}

/* A record: version, epoch big-endian, then len - 9 random bytes. */
static size_t make_rec(unsigned char *buf, size_t len, uint64_t epoch, unsigned *seed)
{
    cr_assert_geq(len, JD_RECORD_HEAD);
    buf[0] = JD_RECORD_VERSION;
    for (int i = 0; i < 8; i++)
        buf[1 + i] = (unsigned char)(epoch >> (56 - 8 * i));
    for (size_t i = JD_RECORD_HEAD; i < len; i++)
        buf[i] = (unsigned char)rand_r(seed);
    return len;
}

/* The epoch in a record's head (jd_record.c is not part of this test). */
static uint64_t epoch_of(const unsigned char *rec)
{
    uint64_t e = 0;
    for (int i = 1; i <= 8; i++)
        e = e << 8 | rec[i];
    return e;
}

static void claim1(jd_store_t *st, const char *topic, int32_t part, jd_store_claim_t *cl)
{
    jd_err_t err;
    memset(cl, 0, sizeof *cl);
    cl->cl_topic = topic;
    cl->cl_partition = part;
    cr_assert_eq(jd_store_claim(st, cl, 1, &err), 0, "claim: %s", err.err_msg);
}

static void send_ok(jd_store_t *st, jd_store_batch_t *sb)
{
    jd_err_t err;
    cr_assert_eq(jd_store_batch_send(st, sb, &err), 0, "batch_send: %s", err.err_msg);
}

static void load_one(jd_store_t *st, const char *id, jd_store_rec_t *rec)
{
    jd_err_t err;
    cr_assert_eq(jd_store_load(st, &id, 1, rec, &err), 0, "load: %s", err.err_msg);
}

static void key_of(char *buf, size_t cap, const char *account, const char *what)
{
    char tag[512];
    jd_store_key_tag(account, tag, sizeof tag);
    int n = snprintf(buf, cap, "%s:{%s}:%s", g_prefix, tag, what);
    cr_assert(n > 0 && (size_t)n < cap, "key too long");
}

static redisReply *raw_cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert_not_null(r, "%s: no reply", fmt);
    return r;
}

static redisContext *raw(void)
{
    redisContext *c = raw_connect(&g_srv);
    cr_assert(c && !c->err, "raw connect");
    return c;
}

typedef struct timers {
    char    acc[16][32];
    int64_t dl[16];
    int     n;
} timers_t;

static void timer_cb(const char *account, int64_t deadline, void *opaque)
{
    timers_t *t = opaque;
    cr_assert_lt(t->n, 16);
    snprintf(t->acc[t->n], sizeof t->acc[t->n], "%s", account);
    t->dl[t->n++] = deadline;
}

static void count_cb(const char *account, void *opaque)
{
    (void)account;
    (*(int *)opaque)++;
}

/* ======================= tests ======================= */

Test(store, key_tags_and_slots)
{
    char tag[64];
    cr_assert_eq(jd_store_key_tag("a}b%c", tag, sizeof tag), 9);
    cr_assert_str_eq(tag, "a%7Db%25c");
    cr_assert_eq(jd_store_key_tag("", tag, sizeof tag), 3);
    cr_assert_str_eq(tag, "%00");
    /* a script call's keys share one slot: record and sig, part and timers */
    cr_assert_eq(jd_redis_keyslot("jd:{a%7Db}:rec", 14), jd_redis_keyslot("jd:{a%7Db}:sig", 14));
    cr_assert_eq(jd_redis_keyslot("jd:part:{t%7D:3}", 16),
                 jd_redis_keyslot("jd:timers:{t%7D:3}", 18));
}

Test(store, config_errors)
{
    jd_store_conf_t sc;
    jd_err_t err;

    jd_store_conf_default(&sc);
    sc.stc_prefix = "a{b";
    cr_assert_null(jd_store_new(&sc, &err));
    cr_assert_eq(err.err_class, JD_ERR_FATAL);
    cr_assert_eq(err.err_code, JD_E_CONFIG);
    jd_store_conf_default(&sc);
    sc.stc_seeds = "nohostport,:";
    cr_assert_null(jd_store_new(&sc, &err));
    cr_assert_eq(err.err_class, JD_ERR_FATAL);
    cr_assert_eq(err.err_code, JD_E_CONFIG);
}

Test(store, claim_bumps_epoch_and_returns_position_and_clock)
{
    jd_store_t *st = store_new();
    jd_store_claim_t cl[2] = {{"orders", 0, 0, 0, 0}, {"orders", 1, 0, 0, 0}};
    jd_store_batch_t *sb = jd_store_batch_new(st);
    jd_err_t err;

    cr_assert_eq(jd_store_claim(st, cl, 2, &err), 0, "claim: %s", err.err_msg);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(cl[i].cl_epoch, 1);
        cr_assert_eq(cl[i].cl_position, -1);
        cr_assert_eq(cl[i].cl_clock, INT64_MIN);
    }
    cr_assert_eq(jd_store_batch_part(sb, "orders", 1, 1, 41, -5000, NULL, 0), 0);
    send_ok(st, sb);
    cr_assert_not(jd_store_batch_part_refused(sb, 0));
    uint64_t before = jd_store_round_trips(st);
    cr_assert_eq(jd_store_claim(st, cl, 2, &err), 0, "claim: %s", err.err_msg);
    cr_assert_eq(jd_store_round_trips(st) - before, 1, "all partitions in one round trip");
    cr_assert_eq(cl[0].cl_epoch, 2);
    cr_assert_eq(cl[0].cl_position, -1);
    cr_assert_eq(cl[1].cl_epoch, 2);
    cr_assert_eq(cl[1].cl_position, 41);
    cr_assert_eq(cl[1].cl_clock, -5000);
    /* a read does not claim */
    jd_store_claim_t rd = {"orders", 1, 0, 0, 0}, none = {"orders", 9, 7, 7, 7};
    cr_assert_eq(jd_store_parts_read(st, &rd, 1, &err), 0, "read: %s", err.err_msg);
    cr_assert_eq(rd.cl_epoch, 2);
    cr_assert_eq(rd.cl_position, 41);
    cr_assert_eq(rd.cl_clock, -5000);
    cr_assert_eq(jd_store_parts_read(st, &none, 1, &err), 0);
    cr_assert_eq(none.cl_epoch, 0);
    cr_assert_eq(none.cl_position, -1);
    cr_assert_eq(none.cl_clock, INT64_MIN);
    jd_store_batch_destroy(sb);
    store_done(st);
}

Test(store, topic_with_brace_is_escaped_in_the_partition_key)
{
    jd_store_t *st = store_new();
    jd_store_claim_t cl;
    char key[128];

    claim1(st, "we}rd%t", 3, &cl);
    redisContext *c = raw();
    snprintf(key, sizeof key, "%s:part:{we%%7Drd%%25t:3}", g_prefix);
    redisReply *r = raw_cmd(c, "HGET %s epoch", key);
    cr_assert_eq(r->type, REDIS_REPLY_STRING, "key %s", key);
    cr_assert_str_eq(r->str, "1");
    freeReplyObject(r);
    redisFree(c);
    store_done(st);
}

Test(store, batch_write_and_load_round_trip)
{
    jd_store_t *st = store_new();
    jd_store_batch_t *sb = jd_store_batch_new(st);
    static unsigned char data[20][300];
    size_t len[20];
    const char *ids[21];
    char names[21][16];
    unsigned seed = 7;
    jd_store_rec_t recs[21];
    jd_err_t err;

    for (int i = 0; i < 20; i++) {
        snprintf(names[i], sizeof names[i], i == 3 ? "a}c%%%d" : "acct-%d", i);
        ids[i] = names[i];
        len[i] = make_rec(data[i], JD_RECORD_HEAD + (size_t)(i * 13 % 290), 1, &seed);
        cr_assert_eq(jd_store_batch_record(sb, ids[i], data[i], len[i], 1, 1, NULL, 0), 0);
    }
    ids[20] = "never-written";
    send_ok(st, sb);
    for (int i = 0; i < 20; i++)
        cr_assert_not(jd_store_batch_record_refused(sb, (size_t)i));
    cr_assert_eq(jd_store_load(st, ids, 21, recs, &err), 0, "load: %s", err.err_msg);
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(recs[i].sr_len, len[i], "record %d", i);
        cr_assert_eq(memcmp(recs[i].sr_data, data[i], len[i]), 0, "record %d", i);
        cr_assert_eq(epoch_of(recs[i].sr_data), 1);
    }
    cr_assert_null(recs[20].sr_data);
    cr_assert_eq(recs[20].sr_len, 0);
    jd_store_recs_free(recs, 21);
    jd_store_batch_destroy(sb);
    store_done(st);
}

Test(store, stale_record_refused_equal_and_newer_written)
{
    jd_store_t *st = store_new();
    unsigned char v5[64], v4[64], v5b[64], v6[64];
    unsigned seed = 1;
    jd_store_rec_t rec;

    make_rec(v5, sizeof v5, 5, &seed);
    make_rec(v4, sizeof v4, 4, &seed);
    make_rec(v5b, sizeof v5b, 5, &seed);
    make_rec(v6, sizeof v6, 0x100, &seed); /* greater only in an earlier byte */
    const unsigned char *vals[] = {v5, v4, v5b, v6};
    const unsigned char *expect[] = {v5, v5, v5b, v6};
    int refused[] = {0, 1, 0, 0};
    for (int k = 0; k < 4; k++) {
        jd_store_batch_t *sb = jd_store_batch_new(st);
        cr_assert_eq(jd_store_batch_record(sb, "acc", vals[k], 64, 0, k == 0, NULL, 0), 0);
        send_ok(st, sb);
        cr_assert_eq(jd_store_batch_record_refused(sb, 0), refused[k], "write %d", k);
        load_one(st, "acc", &rec);
        cr_assert_eq(rec.sr_len, 64);
        cr_assert_eq(memcmp(rec.sr_data, expect[k], 64), 0, "stored after write %d", k);
        jd_store_recs_free(&rec, 1);
        jd_store_batch_destroy(sb);
    }
    store_done(st);
}

Test(store, refusals_are_per_record_in_one_chunk)
{
    jd_store_t *st = store_new();
    jd_store_batch_t *sb = jd_store_batch_new(st);
    unsigned char hi[16], lo[16];
    unsigned seed = 3;

    make_rec(hi, sizeof hi, 9, &seed);
    make_rec(lo, sizeof lo, 2, &seed);
    cr_assert_eq(jd_store_batch_record(sb, "b", hi, sizeof hi, 9, 1, NULL, 0), 0);
    send_ok(st, sb);
    jd_store_batch_destroy(sb);
    sb = jd_store_batch_new(st);
    cr_assert_eq(jd_store_batch_record(sb, "a", lo, sizeof lo, 2, 1, NULL, 0), 0);
    cr_assert_eq(jd_store_batch_record(sb, "b", lo, sizeof lo, 2, 0, NULL, 0), 0);
    cr_assert_eq(jd_store_batch_record(sb, "c", lo, sizeof lo, 2, 1, NULL, 0), 0);
    send_ok(st, sb);
    cr_assert_not(jd_store_batch_record_refused(sb, 0));
    cr_assert(jd_store_batch_record_refused(sb, 1));
    cr_assert_not(jd_store_batch_record_refused(sb, 2));
    jd_store_batch_destroy(sb);
    /* bytes above 0x7f compare as unsigned bytes, whatever Redis's locale */
    unsigned char e80[16], e7f[16];
    make_rec(e80, sizeof e80, 0x80, &seed);
    make_rec(e7f, sizeof e7f, 0x7f, &seed);
    for (int k = 0; k < 2; k++) {
        sb = jd_store_batch_new(st);
        cr_assert_eq(jd_store_batch_record(sb, "d", k ? e7f : e80, 16, 0, !k, NULL, 0), 0);
        send_ok(st, sb);
        cr_assert_eq(jd_store_batch_record_refused(sb, 0), k);
        jd_store_batch_destroy(sb);
    }
    store_done(st);
}

Test(store, sig_hash_fields_written_with_the_record)
{
    jd_store_t *st = store_new();
    unsigned char v1[32], v0[32];
    unsigned seed = 5;
    const char *sig1[] = {"tier", "gold", "score", "42"};
    const char *sig2[] = {"tier", "silver"};
    const char *sig0[] = {"stale", "yes"};
    char key[128];
    redisContext *c = raw();

    make_rec(v1, sizeof v1, 3, &seed);
    make_rec(v0, sizeof v0, 1, &seed);
    key_of(key, sizeof key, "acc", "sig");
    jd_store_batch_t *sb = jd_store_batch_new(st);
    cr_assert_eq(jd_store_batch_record(sb, "acc", v1, sizeof v1, 3, 1, sig1, 2), 0);
    send_ok(st, sb);
    jd_store_batch_destroy(sb);
    redisReply *r = raw_cmd(c, "HGET %s score", key);
    cr_assert_eq(r->type, REDIS_REPLY_STRING);
    cr_assert_str_eq(r->str, "42");
    freeReplyObject(r);
    /* a newer write sets the fields it has, the others stay */
    sb = jd_store_batch_new(st);
    cr_assert_eq(jd_store_batch_record(sb, "acc", v1, sizeof v1, 3, 0, sig2, 1), 0);
    send_ok(st, sb);
    jd_store_batch_destroy(sb);
    r = raw_cmd(c, "HGET %s tier", key);
    cr_assert_str_eq(r->str, "silver");
    freeReplyObject(r);
    r = raw_cmd(c, "HGET %s score", key);
    cr_assert_str_eq(r->str, "42");
    freeReplyObject(r);
    /* a refused write leaves it alone */
    sb = jd_store_batch_new(st);
    cr_assert_eq(jd_store_batch_record(sb, "acc", v0, sizeof v0, 1, 0, sig0, 1), 0);
    send_ok(st, sb);
    cr_assert(jd_store_batch_record_refused(sb, 0));
    jd_store_batch_destroy(sb);
    r = raw_cmd(c, "HEXISTS %s stale", key);
    cr_assert_eq(r->integer, 0);
    freeReplyObject(r);
    r = raw_cmd(c, "HLEN %s", key);
    cr_assert_eq(r->integer, 2);
    freeReplyObject(r);
    redisFree(c);
    store_done(st);
}

Test(store, partition_write_is_fenced_and_timers_persist)
{
    jd_store_t *st = store_new();
    jd_store_claim_t old, cur, rd = {"t", 0, 0, 0, 0};
    jd_store_timer_t add[] = {{"a", 1700000000123}, {"b", 1700000000456}, {"c", 99}};
    jd_store_timer_t chg[] = {{"b", 0}, {"a", 1800000000000}, {"d", 5}};
    timers_t tm = {0};
    jd_err_t err;

    claim1(st, "t", 0, &old);
    claim1(st, "t", 0, &cur); /* another instance claimed after */
    cr_assert_eq(cur.cl_epoch, old.cl_epoch + 1);
    jd_store_batch_t *sb = jd_store_batch_new(st);
    cr_assert_eq(jd_store_batch_part(sb, "t", 0, old.cl_epoch, 10, 1000, add, 3), 0);
    send_ok(st, sb);
    cr_assert(jd_store_batch_part_refused(sb, 0));
    jd_store_batch_destroy(sb);
    cr_assert_eq(jd_store_parts_read(st, &rd, 1, &err), 0);
    cr_assert_eq(rd.cl_position, -1);
    cr_assert_eq(jd_store_timers_load(st, "t", 0, timer_cb, &tm, &err), 0);
    /* the current owner writes */
    sb = jd_store_batch_new(st);
    cr_assert_eq(jd_store_batch_part(sb, "t", 0, cur.cl_epoch, 10, 1000, add, 3), 0);
    send_ok(st, sb);
    cr_assert_not(jd_store_batch_part_refused(sb, 0));
    jd_store_batch_destroy(sb);
    cr_assert_eq(jd_store_timers_load(st, "t", 0, timer_cb, &tm, &err), 3);
    cr_assert_str_eq(tm.acc[0], "c");
    cr_assert_eq(tm.dl[0], 99);
    cr_assert_str_eq(tm.acc[2], "b");
    cr_assert_eq(tm.dl[2], 1700000000456);
    /* changes: removal, move, add; position and clock kept */
    sb = jd_store_batch_new(st);
    cr_assert_eq(jd_store_batch_part(sb, "t", 0, cur.cl_epoch, -1, INT64_MIN, chg, 3), 0);
    send_ok(st, sb);
    jd_store_batch_destroy(sb);
    memset(&tm, 0, sizeof tm);
    cr_assert_eq(jd_store_timers_load(st, "t", 0, timer_cb, &tm, &err), 3);
    cr_assert_str_eq(tm.acc[0], "d");
    cr_assert_str_eq(tm.acc[1], "c");
    cr_assert_str_eq(tm.acc[2], "a");
    cr_assert_eq(tm.dl[2], 1800000000000);
    cr_assert_eq(jd_store_parts_read(st, &rd, 1, &err), 0);
    cr_assert_eq(rd.cl_epoch, cur.cl_epoch);
    cr_assert_eq(rd.cl_position, 10);
    cr_assert_eq(rd.cl_clock, 1000);
    store_done(st);
}

Test(store, accounts_set_gets_new_accounts)
{
    jd_store_t *st = store_new();
    jd_store_batch_t *sb = jd_store_batch_new(st);
    unsigned char v[16];
    unsigned seed = 9;
    int seen = 0;
    jd_err_t err;

    make_rec(v, sizeof v, 1, &seed);
    cr_assert_eq(jd_store_batch_record(sb, "n1", v, sizeof v, 1, 1, NULL, 0), 0);
    cr_assert_eq(jd_store_batch_record(sb, "old", v, sizeof v, 1, 0, NULL, 0), 0);
    cr_assert_eq(jd_store_batch_record(sb, "n2", v, sizeof v, 1, 1, NULL, 0), 0);
    send_ok(st, sb);
    cr_assert_eq(jd_store_account_count(st, &err), 2);
    cr_assert_eq(jd_store_accounts(st, count_cb, &seen, &err), 0);
    cr_assert_eq(seen, 2);
    jd_store_batch_destroy(sb);
    store_done(st);
}

Test(store, load_across_mget_chunks_with_missing_ids)
{
    enum { N = 1500 };
    jd_store_t *st = store_new();
    jd_store_batch_t *sb = jd_store_batch_new(st);
    static char names[N][16];
    static const char *ids[N];
    static jd_store_rec_t recs[N];
    unsigned char v[24];
    unsigned seed = 11;
    jd_err_t err;

    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "id%d", i);
        ids[i] = names[i];
        if (i % 7 == 3)
            continue; /* missing */
        make_rec(v, sizeof v, 1, &seed);
        v[JD_RECORD_HEAD] = (unsigned char)i;
        v[JD_RECORD_HEAD + 1] = (unsigned char)(i >> 8);
        cr_assert_eq(jd_store_batch_record(sb, ids[i], v, sizeof v, 1, 1, NULL, 0), 0);
    }
    uint64_t cmds = jd_store_commands(st);
    send_ok(st, sb);
    /* 1286 records in 3 script calls, plus one SADD */
    cr_assert_eq(jd_store_commands(st) - cmds, 4);
    uint64_t trips = jd_store_round_trips(st);
    cr_assert_eq(jd_store_load(st, ids, N, recs, &err), 0, "load: %s", err.err_msg);
    cr_assert_eq(jd_store_round_trips(st) - trips, 1);
    for (int i = 0; i < N; i++) {
        if (i % 7 == 3) {
            cr_assert_null(recs[i].sr_data, "id%d", i);
            continue;
        }
        cr_assert_eq(recs[i].sr_len, sizeof v, "id%d", i);
        cr_assert_eq(recs[i].sr_data[JD_RECORD_HEAD], (unsigned char)i);
        cr_assert_eq(recs[i].sr_data[JD_RECORD_HEAD + 1], (unsigned char)(i >> 8));
    }
    cr_assert_eq(jd_store_account_count(st, &err), N - (N + 3) / 7);
    jd_store_recs_free(recs, N);
    jd_store_batch_destroy(sb);
    store_done(st);
}

Test(store, one_batch_send_is_one_round_trip)
{
    jd_store_t *st = store_new();
    jd_store_batch_t *sb = jd_store_batch_new(st);
    jd_store_claim_t cl;
    jd_store_timer_t tm = {"x", 5};
    unsigned char v[16];
    unsigned seed = 13;

    claim1(st, "rt", 0, &cl);
    make_rec(v, sizeof v, cl.cl_epoch, &seed);
    for (int i = 0; i < 5; i++) {
        char id[8];
        snprintf(id, sizeof id, "r%d", i);
        cr_assert_eq(jd_store_batch_record(sb, id, v, sizeof v, cl.cl_epoch, 1, NULL, 0), 0);
    }
    cr_assert_eq(jd_store_batch_part(sb, "rt", 0, cl.cl_epoch, 3, 4, &tm, 1), 0);
    cr_assert_eq(jd_store_batch_part(sb, "rt", 1, cl.cl_epoch, 3, 4, NULL, 0), 0);
    uint64_t trips = jd_store_round_trips(st), cmds = jd_store_commands(st);
    send_ok(st, sb);
    cr_assert_eq(jd_store_round_trips(st) - trips, 1);
    cr_assert_eq(jd_store_commands(st) - cmds, 4, "records, 2 partitions, SADD");
    jd_store_batch_destroy(sb);
    store_done(st);
}

/* A batch of more records than one round holds (jd_store_batch.c,
 * ST_ROUND_BYTES of 2 MiB) takes one round trip per round, the partition
 * entry in the last: every record is written, a refusal in a later round
 * is reported at its index, and the accounts set gets every new one. */
Test(store, large_batch_is_sent_in_rounds)
{
    enum { N = 700, LEN = 8192 };   /* 5.5 MiB: three rounds */
    jd_store_t *st = store_new();
    jd_store_batch_t *sb = jd_store_batch_new(st);
    jd_store_claim_t cl, rd = {"big", 0, 0, 0, 0};
    jd_store_timer_t tm = {"k650", 77};
    static unsigned char v[N][LEN];
    unsigned char hi[16];
    char ids[N][8];
    const char *idp[N];
    jd_store_rec_t recs[N];
    unsigned seed = 21;
    jd_err_t err;

    claim1(st, "big", 0, &cl);
    make_rec(hi, sizeof hi, cl.cl_epoch + 5, &seed); /* a newer owner wrote k650 */
    cr_assert_eq(jd_store_batch_record(sb, "k650", hi, sizeof hi, cl.cl_epoch + 5, 1, NULL,
                                       0), 0);
    send_ok(st, sb);
    jd_store_batch_clear(sb);
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "k%d", i);
        idp[i] = ids[i];
        make_rec(v[i], LEN, cl.cl_epoch, &seed);
        cr_assert_eq(jd_store_batch_record(sb, ids[i], v[i], LEN, cl.cl_epoch, i != 650, NULL,
                                           0), 0);
    }
    cr_assert_eq(jd_store_batch_part(sb, "big", 0, cl.cl_epoch, 41, 42, &tm, 1), 0);
    uint64_t trips = jd_store_round_trips(st);
    send_ok(st, sb);
    cr_assert_eq(jd_store_round_trips(st) - trips, 3);
    for (int i = 0; i < N; i++)
        cr_assert_eq(jd_store_batch_record_refused(sb, (size_t)i), i == 650, "k%d", i);
    cr_assert_not(jd_store_batch_part_refused(sb, 0));
    cr_assert_eq(jd_store_load(st, idp, N, recs, &err), 0, "load: %s", err.err_msg);
    for (int i = 0; i < N; i++) {
        size_t len = i == 650 ? sizeof hi : LEN;
        cr_assert_eq(recs[i].sr_len, len, "k%d", i);
        cr_assert_eq(memcmp(recs[i].sr_data, i == 650 ? hi : v[i], len), 0, "k%d", i);
    }
    jd_store_recs_free(recs, N);
    cr_assert_eq(jd_store_parts_read(st, &rd, 1, &err), 0);
    cr_assert_eq(rd.cl_position, 41);
    cr_assert_eq(jd_store_account_count(st, &err), N);
    jd_store_batch_destroy(sb);
    store_done(st);
}

/* Kills every normal client but the caller's: private servers only. */
static void kill_clients(const srv_t *s)
{
    redisContext *c = raw_connect(s);
    cr_assert(c && !c->err);
    redisReply *r = raw_cmd(c, "CLIENT KILL TYPE normal SKIPME yes");
    cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
    cr_assert_geq(r->integer, 1);
    freeReplyObject(r);
    redisFree(c);
}

Test(store, resend_after_lost_connection_is_idempotent)
{
    srv_t own = {0, 0, ""};
    srv_start(&own, 0);
    jd_store_t *st = store_on(&own, g_prefix);
    jd_store_batch_t *sb = jd_store_batch_new(st);
    jd_store_claim_t cl;
    jd_store_timer_t tm[] = {{"a", 100}, {"b", 200}};
    unsigned char v[40];
    unsigned seed = 17;
    timers_t t = {0};
    jd_store_rec_t rec;
    jd_err_t err;

    claim1(st, "rs", 0, &cl);
    make_rec(v, sizeof v, cl.cl_epoch, &seed);
    cr_assert_eq(jd_store_batch_record(sb, "a", v, sizeof v, cl.cl_epoch, 1, NULL, 0), 0);
    cr_assert_eq(jd_store_batch_record(sb, "b", v, sizeof v, cl.cl_epoch, 1, NULL, 0), 0);
    cr_assert_eq(jd_store_batch_part(sb, "rs", 0, cl.cl_epoch, 77, 88, tm, 2), 0);
    kill_clients(&own);
    cr_assert_eq(jd_store_batch_send(st, sb, &err), JD_ERR_RETRY);
    cr_assert_eq(err.err_code, JD_E_REDIS);
    cr_assert(strstr(err.err_msg, "batch"), "names the call: %s", err.err_msg);
    send_ok(st, sb); /* reconnects */
    send_ok(st, sb); /* and once more: the same state */
    cr_assert_not(jd_store_batch_record_refused(sb, 0));
    cr_assert_not(jd_store_batch_part_refused(sb, 0));
    load_one(st, "b", &rec);
    cr_assert_eq(rec.sr_len, sizeof v);
    cr_assert_eq(memcmp(rec.sr_data, v, sizeof v), 0);
    jd_store_recs_free(&rec, 1);
    cr_assert_eq(jd_store_account_count(st, &err), 2);
    cr_assert_eq(jd_store_timers_load(st, "rs", 0, timer_cb, &t, &err), 2);
    jd_store_claim_t rd = {"rs", 0, 0, 0, 0};
    cr_assert_eq(jd_store_parts_read(st, &rd, 1, &err), 0);
    cr_assert_eq(rd.cl_epoch, cl.cl_epoch);
    cr_assert_eq(rd.cl_position, 77);
    /* a dead server is a retriable error naming the command */
    srv_stop(&own);
    cr_assert_eq(jd_store_account_count(st, &err), JD_ERR_RETRY);
    jd_store_batch_destroy(sb);
    jd_store_destroy(st);
}

Test(store, script_flushed_under_the_store_is_reloaded)
{
    jd_store_t *st = store_new();
    jd_store_batch_t *sb = jd_store_batch_new(st);
    unsigned char v[16];
    unsigned seed = 19;
    redisContext *c = raw();

    make_rec(v, sizeof v, 1, &seed);
    cr_assert_eq(jd_store_batch_record(sb, "s", v, sizeof v, 1, 1, NULL, 0), 0);
    freeReplyObject(raw_cmd(c, "SCRIPT FLUSH"));
    send_ok(st, sb);
    cr_assert_not(jd_store_batch_record_refused(sb, 0));
    redisFree(c);
    jd_store_batch_destroy(sb);
    store_done(st);
}

Test(store, outcome_sets_sadd_scard)
{
    jd_store_t *st = store_new();
    const char *names[] = {"churn", "churn", "upsell", "churn"};
    const char *members[] = {"a", "b", "a", "a"};
    const char *q[] = {"churn", "upsell", "none"};
    int64_t out[3];
    jd_err_t err;

    cr_assert_eq(jd_store_sadd(st, names, members, 4, &err), 0, "sadd: %s", err.err_msg);
    cr_assert_eq(jd_store_scard(st, q, 3, out, &err), 0, "scard: %s", err.err_msg);
    cr_assert_eq(out[0], 2);
    cr_assert_eq(out[1], 1);
    cr_assert_eq(out[2], 0);
    store_done(st);
}

Test(store, drop_all_deletes_only_the_prefix)
{
    jd_store_t *st = store_new();
    jd_store_batch_t *sb = jd_store_batch_new(st);
    jd_store_claim_t cl;
    jd_store_timer_t tm = {"a", 9};
    const char *sig[] = {"k", "v"};
    const char *name = "outcome";
    unsigned char v[16];
    unsigned seed = 23;
    char other[96], pattern[96];
    jd_err_t err;
    redisContext *c = raw();

    snprintf(other, sizeof other, "%sx:keep", g_prefix);
    freeReplyObject(raw_cmd(c, "SET %s 1", other));
    claim1(st, "d", 0, &cl);
    make_rec(v, sizeof v, cl.cl_epoch, &seed);
    cr_assert_eq(jd_store_batch_record(sb, "a", v, sizeof v, cl.cl_epoch, 1, sig, 1), 0);
    cr_assert_eq(jd_store_batch_part(sb, "d", 0, cl.cl_epoch, 1, 1, &tm, 1), 0);
    send_ok(st, sb);
    cr_assert_eq(jd_store_sadd(st, &name, &name, 1, &err), 0);
    /* rec, sig, part, timers, accounts, outcome */
    cr_assert_eq(jd_store_drop_all(st, &err), 6, "%s", err.err_msg);
    snprintf(pattern, sizeof pattern, "%s:*", g_prefix);
    redisReply *r = raw_cmd(c, "KEYS %s", pattern);
    cr_assert_eq(r->elements, 0);
    freeReplyObject(r);
    r = raw_cmd(c, "EXISTS %s", other);
    cr_assert_eq(r->integer, 1);
    freeReplyObject(r);
    freeReplyObject(raw_cmd(c, "DEL %s", other));
    redisFree(c);
    jd_store_batch_destroy(sb);
    jd_store_destroy(st);
}

/* ======================= Redis Cluster ======================= */

/* ctest starts no cluster, so this test makes its own: three masters on
 * free loopback ports whose bus ports (+10000) are free too, joined by
 * redis-cli --cluster create. */
typedef struct cluster {
    pid_t pid[3];
    int   port[3];
    char  dir[64];
} cluster_t;

static int port_free(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static int cluster_port(void)
{
    for (int i = 0; i < 1000; i++) {
        int p = free_port();
        if (p <= 55535 && port_free(p + 10000))
            return p;
    }
    cr_assert_fail("no free port pair for a cluster node");
    return 0;
}

static void cluster_node(const cluster_t *cl, int i)
{
    char port[16], conf[32];
    int fd = open("/dev/null", O_WRONLY);

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(fd, 1);
    dup2(fd, 2);
    snprintf(port, sizeof port, "%d", cl->port[i]);
    snprintf(conf, sizeof conf, "nodes-%d.conf", cl->port[i]);
    execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save",
           "", "--appendonly", "no", "--daemonize", "no", "--dir", cl->dir,
           "--cluster-enabled", "yes", "--cluster-config-file", conf,
           "--cluster-node-timeout", "5000", (char *)NULL);
    _exit(127);
}

static int cluster_ok(int port)
{
    srv_t s = {0, port, ""};
    redisContext *c = raw_connect(&s);
    int ok = 0;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "CLUSTER INFO");
        ok = r && r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok");
        freeReplyObject(r);
    }
    redisFree(c);
    return ok;
}

static void cluster_start(cluster_t *cl)
{
    char cmd[256];

    snprintf(cl->dir, sizeof cl->dir, "/tmp/jdst-cluster-XXXXXX");
    cr_assert_not_null(mkdtemp(cl->dir));
    for (int i = 0; i < 3; i++) {
        srv_t s = {0, cl->port[i] = cluster_port(), ""};
        cr_assert((cl->pid[i] = fork()) >= 0);
        if (cl->pid[i] == 0)
            cluster_node(cl, i);
        wait_ready(&s);
    }
    snprintf(cmd, sizeof cmd,
             "redis-cli --cluster create 127.0.0.1:%d 127.0.0.1:%d 127.0.0.1:%d "
             "--cluster-replicas 0 --cluster-yes >/dev/null 2>&1",
             cl->port[0], cl->port[1], cl->port[2]);
    cr_assert_eq(system(cmd), 0, "redis-cli --cluster create");
    for (int tries = 0; tries < 300; tries++) {
        if (cluster_ok(cl->port[0]) && cluster_ok(cl->port[1]) && cluster_ok(cl->port[2]))
            return;
        usleep(100000);
    }
    cr_assert_fail("the cluster did not reach cluster_state:ok");
}

static void cluster_stop(cluster_t *cl)
{
    char cmd[128];
    for (int i = 0; i < 3; i++)
        if (cl->pid[i] > 0) {
            kill(cl->pid[i], SIGTERM);
            waitpid(cl->pid[i], NULL, 0);
        }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cl->dir);
    cr_assert_eq(system(cmd), 0);
}

static jd_store_t *store_cluster(const cluster_t *cl)
{
    jd_store_conf_t sc;
    char seeds[64];
    jd_err_t err;

    jd_store_conf_default(&sc);
    snprintf(seeds, sizeof seeds, "127.0.0.1:%d,127.0.0.1:%d", cl->port[1], cl->port[2]);
    sc.stc_port = cl->port[0];
    sc.stc_seeds = seeds;
    sc.stc_mode = JD_REDIS_CLUSTER;
    sc.stc_prefix = g_prefix;
    jd_store_t *st = jd_store_new(&sc, &err);
    cr_assert_not_null(st, "jd_store_new: %s", err.err_msg);
    cr_assert_eq(jd_store_connect(st, &err), 0, "connect: %s", err.err_msg);
    return st;
}

Test(store, cluster_round_trip_fence_and_drop_all)
{
    enum { N = 60 };
    cluster_t cl = {{0}, {0}, ""};
    cluster_start(&cl);
    jd_store_t *st = store_cluster(&cl);
    jd_store_batch_t *sb = jd_store_batch_new(st);
    jd_store_claim_t parts[4];
    static char names[N + 1][16];
    const char *ids[N + 1];
    const char *sig[] = {"k", "v"};
    jd_store_timer_t tm = {"id1", 1234};
    jd_store_rec_t recs[N + 1];
    unsigned char v[N][32], old[32];
    unsigned seed = 29;
    timers_t t = {0};
    jd_err_t err;

    for (int k = 0; k < 4; k++)
        parts[k] = (jd_store_claim_t){"topic", k, 0, 0, 0};
    cr_assert_eq(jd_store_claim(st, parts, 4, &err), 0, "claim: %s", err.err_msg);
    for (int i = 0; i <= N; i++) {
        snprintf(names[i], sizeof names[i], "id%d", i);
        ids[i] = names[i];
    }
    for (int i = 0; i < N; i++) {
        make_rec(v[i], sizeof v[i], parts[0].cl_epoch, &seed);
        cr_assert_eq(jd_store_batch_record(sb, ids[i], v[i], 32, 1, 1, i % 2 ? sig : NULL,
                                           i % 2), 0);
    }
    for (int k = 0; k < 4; k++)
        cr_assert_eq(jd_store_batch_part(sb, "topic", k, parts[k].cl_epoch, 5, 6, &tm, 1), 0);
    uint64_t trips = jd_store_round_trips(st), cmds = jd_store_commands(st);
    send_ok(st, sb);
    cr_assert_eq(jd_store_round_trips(st) - trips, 1);
    cr_assert_eq(jd_store_commands(st) - cmds, N + 4 + 1, "one call per record");
    cr_assert_eq(jd_store_load(st, ids, N + 1, recs, &err), 0, "load: %s", err.err_msg);
    for (int i = 0; i < N; i++)
        cr_assert_eq(memcmp(recs[i].sr_data, v[i], 32), 0, "id%d", i);
    cr_assert_null(recs[N].sr_data);
    jd_store_recs_free(recs, N + 1);
    cr_assert_eq(jd_store_account_count(st, &err), N);
    cr_assert_eq(jd_store_timers_load(st, "topic", 2, timer_cb, &t, &err), 1);
    /* the fences hold across nodes */
    jd_store_batch_destroy(sb);
    sb = jd_store_batch_new(st);
    make_rec(old, sizeof old, 0, &seed);
    cr_assert_eq(jd_store_batch_record(sb, ids[7], old, 32, 0, 0, NULL, 0), 0);
    cr_assert_eq(jd_store_batch_part(sb, "topic", 1, parts[1].cl_epoch - 1, 9, 9, NULL, 0), 0);
    send_ok(st, sb);
    cr_assert(jd_store_batch_record_refused(sb, 0));
    cr_assert(jd_store_batch_part_refused(sb, 0));
    /* N records, N/2 sig hashes, 4 parts, 4 timers, accounts */
    cr_assert_eq(jd_store_drop_all(st, &err), N + N / 2 + 4 + 4 + 1, "%s", err.err_msg);
    jd_store_batch_destroy(sb);
    jd_store_destroy(st);
    cluster_stop(&cl);
}
