/*
 * jd_store_read: the partition and record reads of jd_store (contract in
 * jd_store.h): jd_store_claim (the epoch bump that makes the claimer's
 * writes the only ones store.lua accepts), jd_store_parts_read, the
 * deadline index (jd_store_timers_load, ZRANGE pages of ST_ZPAGE) and
 * jd_store_load (MGET of ST_CHUNK keys on a single node, GET per key on
 * a cluster).
 *
 * Like every call of jd_store, each builds all its commands first and
 * reads every reply in one loop (jd__store_roundtrip, jd_store_int.h):
 * one round trip per call, and the pipeline never keeps a stale reply.
 * Nothing here writes a record; the writes are in jd_store_batch.c.
 *
 * Ownership: records returned by jd_store_load belong to the caller
 * (jd_store_recs_free); a claim's fields are the caller's. Runs on the
 * thread of its jd_store_t.
 */
#include "jd_store.h"
#include "jd_store_int.h"

#include <hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Partitions ----------------------------------------------------------- */

/* One round trip of k commands per partition: push queues partition i's
 * (jd__store_send's result), parse reads its k replies. */
typedef int (*st_part_push_fn)(jd_store_t *st, const jd_store_claim_t *cl);
typedef void (*st_part_parse_fn)(redisReply **r, jd_store_claim_t *cl);

static int st_per_part(jd_store_t *st, jd_store_claim_t *cl, size_t n, size_t k,
                       st_part_push_fn push, st_part_parse_fn parse, const char *what,
                       jd_err_t *err)
{
    redisReply **r;
    int rc;

    if (!n)
        return 0;
    if ((rc = jd__store_ensure(st, err)) != 0)
        return rc;
    if (!(r = calloc(k * n, sizeof *r)))
        return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n && !rc; i++)
        if (push(st, &cl[i]) < 0)
            rc = jd__store_oom_error(st, err, what);
    if (!rc && (rc = jd__store_roundtrip(st, r, k * n, what, err)) == 0) {
        for (size_t i = 0; i < n; i++)
            parse(&r[k * i], &cl[i]);
        jd__store_free_replies(r, k * n);
    }
    free(r);
    return rc;
}

static int st_claim_push(jd_store_t *st, const jd_store_claim_t *cl)
{
    jd__store_push(st, "HINCRBY");
    jd__store_push_part_key(st, "part", cl->cl_topic, cl->cl_partition);
    jd__store_push(st, "epoch");
    jd__store_push(st, "1");
    if (jd__store_send(st) < 0)
        return -1;
    jd__store_push(st, "HMGET");
    jd__store_push_part_key(st, "part", cl->cl_topic, cl->cl_partition);
    jd__store_push(st, "position");
    jd__store_push(st, "clock");
    return jd__store_send(st);
}

/* r: position and clock of one HMGET reply. */
static void st_parse_pos_clock(const redisReply *r, size_t at, jd_store_claim_t *cl)
{
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements >= at + 2;
    cl->cl_position = ok ? jd__store_reply_i64(r->element[at], -1) : -1;
    cl->cl_clock = ok ? jd__store_reply_i64(r->element[at + 1], INT64_MIN) : INT64_MIN;
}

static void st_claim_parse(redisReply **r, jd_store_claim_t *cl)
{
    cl->cl_epoch = (uint64_t)jd__store_reply_i64(r[0], 0);
    st_parse_pos_clock(r[1], 0, cl);
}

int jd_store_claim(jd_store_t *st, jd_store_claim_t *cl, size_t n, jd_err_t *err)
{
    return st_per_part(st, cl, n, 2, st_claim_push, st_claim_parse, "claim (hincrby)", err);
}

static int st_read_push(jd_store_t *st, const jd_store_claim_t *cl)
{
    jd__store_push(st, "HMGET");
    jd__store_push_part_key(st, "part", cl->cl_topic, cl->cl_partition);
    jd__store_push(st, "epoch");
    jd__store_push(st, "position");
    jd__store_push(st, "clock");
    return jd__store_send(st);
}

static void st_read_parse(redisReply **r, jd_store_claim_t *cl)
{
    int ok = r[0]->type == REDIS_REPLY_ARRAY && r[0]->elements == 3;
    cl->cl_epoch = ok ? (uint64_t)jd__store_reply_i64(r[0]->element[0], 0) : 0;
    st_parse_pos_clock(r[0], 1, cl);
}

int jd_store_parts_read(jd_store_t *st, jd_store_claim_t *cl, size_t n, jd_err_t *err)
{
    return st_per_part(st, cl, n, 1, st_read_push, st_read_parse, "parts read (hmget)", err);
}

/* One page of the deadline index: fn for each entry; returns how many, or
 * a negative jd_err class. Scores are parsed as doubles (Redis may print
 * them in exponent form); deadlines are ms, far below 2^53. */
static int st_timers_page(jd_store_t *st, const char *topic, int32_t partition, long start,
                          jd_store_timer_fn fn, void *opaque, jd_err_t *err)
{
    redisReply *r = NULL;
    int rc, n = 0;

    jd__store_push(st, "ZRANGE");
    jd__store_push_part_key(st, "timers", topic, partition);
    jd__store_push_i64(st, start);
    jd__store_push_i64(st, start + ST_ZPAGE - 1);
    jd__store_push(st, "WITHSCORES");
    if (jd__store_send(st) < 0)
        return jd__store_oom_error(st, err, "timers (zrange)");
    if ((rc = jd__store_roundtrip(st, &r, 1, "timers (zrange)", err)) != 0)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
        freeReplyObject(r);
        return jd__store_unexpected(err, "timers (zrange)");
    }
    for (size_t i = 0; i + 1 < r->elements; i += 2, n++)
        fn(r->element[i]->str, (int64_t)strtod(r->element[i + 1]->str, NULL), opaque);
    freeReplyObject(r);
    return n;
}

int jd_store_timers_load(jd_store_t *st, const char *topic, int32_t partition,
                         jd_store_timer_fn fn, void *opaque, jd_err_t *err)
{
    int rc, total = 0;
    long start = 0;

    if ((rc = jd__store_ensure(st, err)) != 0)
        return rc;
    do {
        if ((rc = st_timers_page(st, topic, partition, start, fn, opaque, err)) < 0)
            return rc;
        total += rc;
        start += ST_ZPAGE;
    } while (rc == ST_ZPAGE);
    return total;
}

/* ---- Records -------------------------------------------------------------- */

void jd_store_recs_free(jd_store_rec_t *recs, size_t n)
{
    for (size_t i = 0; recs && i < n; i++) {
        free(recs[i].sr_data);
        recs[i].sr_data = NULL;
        recs[i].sr_len = 0;
    }
}

/* Copies one GET / MGET element into rec (nil: no record). -1 on OOM. */
static int st_take(jd_store_rec_t *rec, const redisReply *e)
{
    if (e->type != REDIS_REPLY_STRING)
        return 0;
    if (!(rec->sr_data = malloc(e->len ? e->len : 1)))
        return -1;
    memcpy(rec->sr_data, e->str, e->len);
    rec->sr_len = e->len;
    return 0;
}

/* Appends the reads of ids[0..n): one MGET per ST_CHUNK ids, or one GET
 * per id on a cluster (per is 1). Returns the command count, or -1. */
static size_t st_load_push(jd_store_t *st, const char *const *ids, size_t n, size_t per,
                           int *oom)
{
    size_t cmds = 0;
    for (size_t i = 0; i < n && !*oom; i += per, cmds++) {
        jd__store_push(st, per == 1 ? "GET" : "MGET");
        for (size_t j = i; j < n && j < i + per; j++)
            jd__store_push_tagged(st, "", ids[j], ":rec");
        *oom = jd__store_send(st) < 0;
    }
    return cmds;
}

/* Spreads the replies over recs; -1 on OOM, 1 on an unexpected reply. */
static int st_load_parse(redisReply **r, size_t cmds, size_t per, size_t n,
                         jd_store_rec_t *recs)
{
    for (size_t c = 0; c < cmds; c++) {
        size_t base = c * per, k = n - base < per ? n - base : per;
        if (per == 1) {
            if (st_take(&recs[base], r[c]))
                return -1;
            continue;
        }
        if (r[c]->type != REDIS_REPLY_ARRAY || r[c]->elements != k)
            return 1;
        for (size_t j = 0; j < k; j++)
            if (st_take(&recs[base + j], r[c]->element[j]))
                return -1;
    }
    return 0;
}

int jd_store_load(jd_store_t *st, const char *const *ids, size_t n, jd_store_rec_t *recs,
                  jd_err_t *err)
{
    redisReply **r;
    size_t per, cmds;
    int rc, oom = 0;

    memset(recs, 0, n * sizeof *recs);
    if (!n)
        return 0;
    if ((rc = jd__store_ensure(st, err)) != 0)
        return rc;
    per = jd_redis_is_cluster(st->st_rd) ? 1 : ST_CHUNK;
    if (!(r = calloc((n + per - 1) / per, sizeof *r)))
        return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM, "out of memory");
    cmds = st_load_push(st, ids, n, per, &oom);
    if (oom)
        rc = jd__store_oom_error(st, err, "load (mget)");
    else if ((rc = jd__store_roundtrip(st, r, cmds, "load (mget)", err)) == 0) {
        int prc = st_load_parse(r, cmds, per, n, recs);
        if (prc)
            rc = prc < 0 ? jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM, "out of memory")
                         : jd__store_unexpected(err, "load (mget)");
        jd__store_free_replies(r, cmds);
    }
    if (rc)
        jd_store_recs_free(recs, n);
    free(r);
    return rc;
}
