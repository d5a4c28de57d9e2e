/*
 * jd_store: the Redis I/O of the state engine (contract and key layout in
 * jd_store.h; the fenced writes in store.lua).
 *
 * The module only moves bytes: records are opaque (jd_record decides what
 * they hold), and the one decision made in Redis is the fence, in
 * store.lua, so that it is atomic with the write it guards. Every public
 * call builds all its commands first (st_push*, then st_send appends them
 * to the jd_redis pipeline) and then reads every reply in one loop
 * (st_read_all): one round trip per call, per node in a cluster. That loop
 * always reads every reply it appended, even after an error reply, so the
 * pipeline never holds a stale reply for the next call.
 *
 * Why the fence is two rules. A partition's epoch is bumped by each claim
 * (jd_store_claim), so a partition write is refused when the stored epoch
 * is greater than the writer's: an instance that lost the partition can
 * no longer move its position, clock or timers. A record carries its
 * writer's epoch in its head, and a write is refused when the stored
 * record's epoch is greater: the old owner, still flushing a batch after
 * the new owner wrote the account, cannot overwrite the newer record.
 * What this fence does not cover: a stale owner's record write that lands
 * after the new claim but before the new owner first writes that account
 * is accepted (its epoch is not greater than the stored one). Whether the
 * new owner then sees events past the fenced position twice is for the
 * engine to settle (e.g. by the position kept in the record); the store
 * only guarantees that a newer owner's record is never overwritten.
 *
 * Idempotence. Every write here can be sent twice: a record write with an
 * equal epoch writes the same bytes, a partition write sets the same
 * fields, SADD adds nothing new. So after JD_ERR_RETRY (connection lost
 * with the outcome unknown) the caller re-sends the same batch. Only
 * jd_store_claim is not idempotent, and need not be (the newest claim
 * wins).
 *
 * Connection. jd_redis routes each command by its first key; every script
 * call here has keys of one hash tag (one account, or one partition), so
 * nothing is cross-slot; on a single node the record writes are packed
 * 512 to a call. An I/O error or timeout drops the connection
 * (st_disconnect): the next call reconnects and loads store.lua again.
 * jd_redis itself answers NOSCRIPT for a script loaded through it; should
 * one still reach a batch, the script is loaded and the batch re-sent
 * once.
 *
 * Ownership: jd_store_t owns its jd_redis_t and a scratch arena for the
 * arguments of the commands being built (reset after each append: jd_redis
 * copies them). One thread per jd_store_t; a jd_store_batch_t is used by
 * the thread of its store.
 */
#include "jd_store.h"
#include "jd_redis_auth.h"

#include <hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_arena.h"

#include "store_lua.h"

#define ST_SHA_LEN   40
#define ST_CHUNK     512    /* records per script call, keys per MGET */
#define ST_ZPAGE     10000  /* deadline index entries per ZRANGE */

struct jd_store {
    char        *st_prefix;
    jd_redis_t  *st_rd;
    char         st_sha[ST_SHA_LEN + 1];  /* store.lua, once loaded */
    jd_arena_t   st_arena;                /* arguments of one command */
    const char **st_argv;                 /* the command being built */
    size_t      *st_argvlen;
    size_t       st_argc;
    size_t       st_argcap;
    int          st_oom;                  /* an allocation failed building it */
    uint64_t     st_commands;             /* appended so far */
    uint64_t     st_round_trips;          /* read loops so far */
};

/* One record write of a batch (all copies, in sb_arena). */
typedef struct st_brec {
    const char    *br_account;
    const char    *br_data;
    size_t         br_len;
    int            br_is_new;
    const char   **br_sig;       /* 2 * br_sig_n strings */
    size_t         br_sig_n;
    int            br_refused;
} st_brec_t;

/* One partition write of a batch (copies in sb_arena). */
typedef struct st_bpart {
    const char *bp_topic;
    int32_t   bp_partition;
    uint64_t  bp_epoch;
    int64_t   bp_position;       /* -1: keep */
    int64_t   bp_clock;          /* INT64_MIN: keep */
    const char **bp_members;     /* bp_n accounts */
    int64_t  *bp_deadlines;      /* 0: remove */
    size_t    bp_n;
    int       bp_refused;
} st_bpart_t;

struct jd_store_batch {
    st_brec_t  *sb_recs;
    size_t      sb_nrec;
    size_t      sb_caprec;
    st_bpart_t *sb_parts;
    size_t      sb_npart;
    size_t      sb_cappart;
    jd_arena_t  sb_arena;        /* every copy; kept across jd_store_batch_clear */
};

void jd_store_conf_default(jd_store_conf_t *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->stc_host = "127.0.0.1";
    sc->stc_port = 6379;
    sc->stc_timeout_ms = 2000;
    sc->stc_mode = JD_REDIS_AUTO;
    sc->stc_prefix = "jd";
}

/* ---- Keys --------------------------------------------------------------- */

size_t jd_store_key_tag(const char *account, char *buf, size_t cap)
{
    size_t n = 0;
    const char *p = account ? account : "";

    if (!*p) /* an empty tag would make Redis hash the whole key */
        p = NULL;
    for (; p && *p; p++) {
        const char *piece = *p == '%' ? "%25" : *p == '}' ? "%7D" : NULL;
        size_t len = piece ? 3 : 1;
        for (size_t i = 0; i < len; i++, n++)
            if (n + 1 < cap)
                buf[n] = piece ? piece[i] : *p;
    }
    if (!account || !*account) {
        for (const char *e = "%00"; *e; e++, n++)
            if (n + 1 < cap)
                buf[n] = *e;
    }
    if (cap)
        buf[n < cap ? n : cap - 1] = '\0';
    return n;
}

/* ---- Building commands ---------------------------------------------------- */

static void st_push_mem(jd_store_t *st, const char *s, size_t len)
{
    if (st->st_argc == st->st_argcap) {
        size_t cap = st->st_argcap ? st->st_argcap * 2 : 256;
        const char **argv = realloc(st->st_argv, cap * sizeof *argv);
        if (argv)
            st->st_argv = argv;
        size_t *lens = realloc(st->st_argvlen, cap * sizeof *lens);
        if (lens)
            st->st_argvlen = lens;
        if (!argv || !lens) {
            st->st_oom = 1;
            return;
        }
        st->st_argcap = cap;
    }
    st->st_argv[st->st_argc] = s ? s : "";
    st->st_argvlen[st->st_argc] = s ? len : 0;
    st->st_argc++;
}

static void st_push(jd_store_t *st, const char *s)
{
    st_push_mem(st, s, s ? strlen(s) : 0);
}

static void st_push_i64(jd_store_t *st, int64_t v)
{
    char *s = jd_arena_alloc(&st->st_arena, 24), tmp[24];
    if (!s) {
        st->st_oom = 1;
        return;
    }
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    size_t n = 0, len = 0;
    do
        tmp[n++] = (char)('0' + u % 10);
    while ((u /= 10));
    if (v < 0)
        s[len++] = '-';
    while (n)
        s[len++] = tmp[--n];
    st_push_mem(st, s, len);
}

/* Pushes the key "<prefix>:<before>{<tag of src>}<after>". */
static void st_push_tagged(jd_store_t *st, const char *before, const char *src,
                           const char *after)
{
    size_t plen = strlen(st->st_prefix), blen = strlen(before);
    size_t tlen = jd_store_key_tag(src, NULL, 0), alen = strlen(after);
    size_t len = plen + blen + tlen + alen + 3;
    char *key = jd_arena_alloc(&st->st_arena, len + 1), *p = key;

    if (!key) {
        st->st_oom = 1;
        return;
    }
    memcpy(p, st->st_prefix, plen), p += plen;
    *p++ = ':';
    memcpy(p, before, blen), p += blen;
    *p++ = '{';
    jd_store_key_tag(src, p, tlen + 1), p += tlen;
    *p++ = '}';
    memcpy(p, after, alen + 1);
    st_push_mem(st, key, len);
}

/* Pushes a partition's key "<prefix>:<what>:{<topic>:<partition>}", the
 * topic escaped like an account id. */
static void st_push_part_key(jd_store_t *st, const char *what, const char *topic,
                             int32_t partition)
{
    size_t len = strlen(topic) + 16;
    char *name = jd_arena_alloc(&st->st_arena, len);
    char before[16];

    if (!name) {
        st->st_oom = 1;
        return;
    }
    snprintf(name, len, "%s:%d", topic, (int)partition);
    snprintf(before, sizeof before, "%s:", what);
    st_push_tagged(st, before, name, "");
}

/* Pushes "<prefix>:<name>" (the global sets). */
static void st_push_global(jd_store_t *st, const char *name)
{
    size_t len = strlen(st->st_prefix) + strlen(name) + 2;
    char *key = jd_arena_alloc(&st->st_arena, len);
    if (!key) {
        st->st_oom = 1;
        return;
    }
    st_push_mem(st, key, (size_t)snprintf(key, len, "%s:%s", st->st_prefix, name));
}

/* Drops the command built so far (nothing is sent). */
static void st_drop(jd_store_t *st)
{
    st->st_argc = 0;
    st->st_oom = 0;
    jd_arena_reset(&st->st_arena);
}

/* Appends the command built so far (to the k-th master when k >= 0:
 * keyless commands) and starts a new one. 0, or -1 when out of memory. */
static int st_send_to(jd_store_t *st, int k)
{
    int rc = -1;
    if (!st->st_oom &&
        (k < 0 ? jd_redis_append(st->st_rd, (int)st->st_argc, st->st_argv, st->st_argvlen)
               : jd_redis_append_to(st->st_rd, k, (int)st->st_argc, st->st_argv,
                                    st->st_argvlen)) == 0) {
        st->st_commands++;
        rc = 0;
    }
    st_drop(st);
    return rc;
}

static int st_send(jd_store_t *st)
{
    return st_send_to(st, -1);
}

/* ---- Replies and errors --------------------------------------------------- */

static void st_disconnect(jd_store_t *st)
{
    jd_redis_disconnect(st->st_rd);
    st_drop(st);
}

/* Out of memory while building: the pipeline may hold part of a call, so
 * the connection is dropped like after an I/O error. */
static int st_oom_error(jd_store_t *st, jd_err_t *err, const char *what)
{
    st_disconnect(st);
    return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM,
                      "redis %s: out of memory building the command", what);
}

static int st_reply_error(const redisReply *r, jd_err_t *err, const char *what)
{
    if (jd_redis_is_noauth(r->str, r->len)) /* a configuration error, not an outage */
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "redis %s: %.*s: set redis.password (or redis.password_file, or "
                          "JOURNEYD_REDIS_PASSWORD)", what, (int)r->len, r->str);
    return jd_err_set(err, JD_ERR_RETRY, JD_E_REDIS, "redis %s: %.*s", what, (int)r->len,
                      r->str ? r->str : "");
}

static int st_unexpected(jd_err_t *err, const char *what)
{
    return jd_err_set(err, JD_ERR_RETRY, JD_E_REDIS, "redis %s: unexpected reply", what);
}

static void st_free_replies(redisReply **r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        freeReplyObject(r[i]);
        r[i] = NULL;
    }
}

/* Sends what was appended and reads n replies: one round trip. On an I/O
 * error frees what it read and disconnects. */
static int st_read_all(jd_store_t *st, redisReply **r, size_t n, const char *what,
                       jd_err_t *err)
{
    st->st_round_trips++;
    for (size_t i = 0; i < n; i++) {
        if (jd_redis_read(st->st_rd, &r[i], err) != 0) {
            st_free_replies(r, i);
            st_disconnect(st);
            jd_err_prefix(err, "redis %s", what);
            return JD_ERR_RETRY;
        }
    }
    return 0;
}

/* st_read_all, and any error reply fails the call (the replies are freed
 * then). */
static int st_roundtrip(jd_store_t *st, redisReply **r, size_t n, const char *what,
                        jd_err_t *err)
{
    int rc = st_read_all(st, r, n, what, err);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (r[i]->type == REDIS_REPLY_ERROR)
            rc = st_reply_error(r[i], err, what);
    if (rc)
        st_free_replies(r, n);
    return rc;
}

/* A decimal string or integer reply as an int64; dflt for nil. */
static int64_t st_reply_i64(const redisReply *r, int64_t dflt)
{
    if (r->type == REDIS_REPLY_INTEGER)
        return (int64_t)r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return dflt;
}

/* ---- Connection ---------------------------------------------------------- */

static int st_load_script(jd_store_t *st, jd_err_t *err)
{
    redisReply *r = NULL;
    int rc = 0;

    st_push(st, "SCRIPT");
    st_push(st, "LOAD");
    st_push(st, jd_store_lua);
    if (st_send(st) < 0)
        return st_oom_error(st, err, "script load");
    if (st_read_all(st, &r, 1, "script load", err) != 0)
        return JD_ERR_RETRY;
    if (r->type == REDIS_REPLY_STRING && r->len == ST_SHA_LEN)
        memcpy(st->st_sha, r->str, ST_SHA_LEN + 1);
    else if (r->type == REDIS_REPLY_ERROR)
        rc = st_reply_error(r, err, "script load");
    else
        rc = st_unexpected(err, "script load");
    freeReplyObject(r);
    return rc;
}

static int st_ensure(jd_store_t *st, jd_err_t *err)
{
    int rc;
    if (jd_redis_connected(st->st_rd))
        return 0;
    rc = jd_redis_connect(st->st_rd, err);
    return rc ? rc : st_load_script(st, err);
}

int jd_store_connect(jd_store_t *st, jd_err_t *err)
{
    return st_ensure(st, err);
}

/* ---- Life cycle ------------------------------------------------------------ */

static int st_check_conf(const jd_store_conf_t *sc, jd_err_t *err)
{
    if (!sc->stc_prefix || !*sc->stc_prefix || strpbrk(sc->stc_prefix, "{}"))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "redis.prefix must be non-empty, without '{' '}'");
    if (sc->stc_timeout_ms <= 0)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG, "redis.timeout_ms must be > 0");
    if (!sc->stc_unix_path && (!sc->stc_host || sc->stc_port <= 0 || sc->stc_port > 65535))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "redis: need a unix socket or host and port 1..65535");
    return 0;
}

/* The jd_redis connection (it copies the configuration, password too). */
static jd_redis_t *st_redis_new(const jd_store_conf_t *sc, jd_err_t *err)
{
    char *file_pw = NULL;
    const char *pw = sc->stc_password && *sc->stc_password ? sc->stc_password : NULL;
    jd_redis_t *rd;

    if (!pw && sc->stc_password_file && *sc->stc_password_file) {
        if (!(file_pw = jd_redis_password_file("redis.password_file", sc->stc_password_file,
                                               err)))
            return NULL;
        pw = file_pw;
    }
    jd_redis_conf_t rc = {sc->stc_host, sc->stc_port, sc->stc_unix_path, sc->stc_seeds,
                          sc->stc_user && *sc->stc_user ? sc->stc_user : NULL, pw,
                          sc->stc_timeout_ms, sc->stc_mode};
    rd = jd_redis_new(&rc, err);
    jd_redis_secret_free(file_pw);
    return rd;
}

jd_store_t *jd_store_new(const jd_store_conf_t *sc, jd_err_t *err)
{
    jd_store_t *st;

    if (st_check_conf(sc, err) != 0)
        return NULL;
    if (!(st = calloc(1, sizeof *st)) || !(st->st_prefix = strdup(sc->stc_prefix))) {
        free(st);
        jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        return NULL;
    }
    jd_arena_init(&st->st_arena, 64 * 1024);
    if (!(st->st_rd = st_redis_new(sc, err))) {
        jd_store_destroy(st);
        return NULL;
    }
    return st;
}

void jd_store_destroy(jd_store_t *st)
{
    if (!st)
        return;
    jd_redis_destroy(st->st_rd);
    jd_arena_destroy(&st->st_arena);
    free(st->st_prefix);
    free(st->st_argv);
    free(st->st_argvlen);
    free(st);
}

uint64_t jd_store_commands(const jd_store_t *st)
{
    return st->st_commands;
}

uint64_t jd_store_round_trips(const jd_store_t *st)
{
    return st->st_round_trips;
}

/* ---- Partitions ----------------------------------------------------------- */

/* One round trip of k commands per partition: push queues partition i's
 * (st_send's result), parse reads its k replies. */
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
    if ((rc = st_ensure(st, err)) != 0)
        return rc;
    if (!(r = calloc(k * n, sizeof *r)))
        return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n && !rc; i++)
        if (push(st, &cl[i]) < 0)
            rc = st_oom_error(st, err, what);
    if (!rc && (rc = st_roundtrip(st, r, k * n, what, err)) == 0) {
        for (size_t i = 0; i < n; i++)
            parse(&r[k * i], &cl[i]);
        st_free_replies(r, k * n);
    }
    free(r);
    return rc;
}

static int st_claim_push(jd_store_t *st, const jd_store_claim_t *cl)
{
    st_push(st, "HINCRBY");
    st_push_part_key(st, "part", cl->cl_topic, cl->cl_partition);
    st_push(st, "epoch");
    st_push(st, "1");
    if (st_send(st) < 0)
        return -1;
    st_push(st, "HMGET");
    st_push_part_key(st, "part", cl->cl_topic, cl->cl_partition);
    st_push(st, "position");
    st_push(st, "clock");
    return st_send(st);
}

/* r: position and clock of one HMGET reply. */
static void st_parse_pos_clock(const redisReply *r, size_t at, jd_store_claim_t *cl)
{
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements >= at + 2;
    cl->cl_position = ok ? st_reply_i64(r->element[at], -1) : -1;
    cl->cl_clock = ok ? st_reply_i64(r->element[at + 1], INT64_MIN) : INT64_MIN;
}

static void st_claim_parse(redisReply **r, jd_store_claim_t *cl)
{
    cl->cl_epoch = (uint64_t)st_reply_i64(r[0], 0);
    st_parse_pos_clock(r[1], 0, cl);
}

int jd_store_claim(jd_store_t *st, jd_store_claim_t *cl, size_t n, jd_err_t *err)
{
    return st_per_part(st, cl, n, 2, st_claim_push, st_claim_parse, "claim (hincrby)", err);
}

static int st_read_push(jd_store_t *st, const jd_store_claim_t *cl)
{
    st_push(st, "HMGET");
    st_push_part_key(st, "part", cl->cl_topic, cl->cl_partition);
    st_push(st, "epoch");
    st_push(st, "position");
    st_push(st, "clock");
    return st_send(st);
}

static void st_read_parse(redisReply **r, jd_store_claim_t *cl)
{
    int ok = r[0]->type == REDIS_REPLY_ARRAY && r[0]->elements == 3;
    cl->cl_epoch = ok ? (uint64_t)st_reply_i64(r[0]->element[0], 0) : 0;
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

    st_push(st, "ZRANGE");
    st_push_part_key(st, "timers", topic, partition);
    st_push_i64(st, start);
    st_push_i64(st, start + ST_ZPAGE - 1);
    st_push(st, "WITHSCORES");
    if (st_send(st) < 0)
        return st_oom_error(st, err, "timers (zrange)");
    if ((rc = st_roundtrip(st, &r, 1, "timers (zrange)", err)) != 0)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
        freeReplyObject(r);
        return st_unexpected(err, "timers (zrange)");
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

    if ((rc = st_ensure(st, err)) != 0)
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
        st_push(st, per == 1 ? "GET" : "MGET");
        for (size_t j = i; j < n && j < i + per; j++)
            st_push_tagged(st, "", ids[j], ":rec");
        *oom = st_send(st) < 0;
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
    if ((rc = st_ensure(st, err)) != 0)
        return rc;
    per = jd_redis_is_cluster(st->st_rd) ? 1 : ST_CHUNK;
    if (!(r = calloc((n + per - 1) / per, sizeof *r)))
        return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM, "out of memory");
    cmds = st_load_push(st, ids, n, per, &oom);
    if (oom)
        rc = st_oom_error(st, err, "load (mget)");
    else if ((rc = st_roundtrip(st, r, cmds, "load (mget)", err)) == 0) {
        int prc = st_load_parse(r, cmds, per, n, recs);
        if (prc)
            rc = prc < 0 ? jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM, "out of memory")
                         : st_unexpected(err, "load (mget)");
        st_free_replies(r, cmds);
    }
    if (rc)
        jd_store_recs_free(recs, n);
    free(r);
    return rc;
}

/* ---- The batch: building ---------------------------------------------------- */

jd_store_batch_t *jd_store_batch_new(jd_store_t *st)
{
    (void)st; /* the batch holds no connection state */
    jd_store_batch_t *sb = calloc(1, sizeof(jd_store_batch_t));
    if (sb)
        jd_arena_init(&sb->sb_arena, 1 << 20);
    return sb;
}

void jd_store_batch_clear(jd_store_batch_t *sb)
{
    sb->sb_nrec = sb->sb_npart = 0;
    jd_arena_reset(&sb->sb_arena);
}

void jd_store_batch_destroy(jd_store_batch_t *sb)
{
    if (!sb)
        return;
    jd_arena_destroy(&sb->sb_arena);
    free(sb->sb_recs);
    free(sb->sb_parts);
    free(sb);
}

/* Room for one more element of size `size` in *arr. 0, or -1. */
static int st_grow(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    void *p = realloc(*arr, ncap * size);
    if (!p)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

/* A copy of s (NULL becomes "") in the batch's arena, or NULL. */
static const char *st_copy_str(jd_store_batch_t *sb, const char *s)
{
    s = s ? s : "";
    return jd_arena_strndup(&sb->sb_arena, s, strlen(s));
}

/* Copies of n strings in the batch's arena, or NULL. */
static const char **st_copy_strs(jd_store_batch_t *sb, const char *const *src, size_t n)
{
    const char **out = jd_arena_alloc(&sb->sb_arena, (n ? n : 1) * sizeof *out);
    for (size_t i = 0; out && i < n; i++)
        if (!(out[i] = st_copy_str(sb, src[i])))
            return NULL;
    return out;
}

int jd_store_batch_record(jd_store_batch_t *sb, const char *account, const void *data,
                          size_t len, uint64_t epoch, int is_new,
                          const char *const *sig, size_t sig_n)
{
    st_brec_t br = {0};

    (void)epoch; /* store.lua reads it from the record's head */
    if (st_grow((void **)&sb->sb_recs, &sb->sb_caprec, sb->sb_nrec, sizeof br) != 0)
        return -1;
    char *copy = jd_arena_alloc(&sb->sb_arena, len ? len : 1);
    br.br_account = st_copy_str(sb, account);
    br.br_sig = sig_n ? st_copy_strs(sb, sig, 2 * sig_n) : NULL;
    if (!copy || !br.br_account || (sig_n && !br.br_sig))
        return -1;
    if (len)
        memcpy(copy, data, len);
    br.br_data = copy;
    br.br_len = len;
    br.br_is_new = is_new;
    br.br_sig_n = sig_n;
    sb->sb_recs[sb->sb_nrec++] = br;
    return 0;
}

int jd_store_batch_part(jd_store_batch_t *sb, const char *topic, int32_t partition,
                        uint64_t epoch, int64_t position, int64_t clock,
                        const jd_store_timer_t *changes, size_t n)
{
    st_bpart_t bp = {0};

    if (st_grow((void **)&sb->sb_parts, &sb->sb_cappart, sb->sb_npart, sizeof bp) != 0)
        return -1;
    bp.bp_topic = st_copy_str(sb, topic);
    const char **members = jd_arena_alloc(&sb->sb_arena, (n ? n : 1) * sizeof *members);
    int64_t *deadlines = jd_arena_alloc(&sb->sb_arena, (n ? n : 1) * sizeof *deadlines);
    if (!bp.bp_topic || !members || !deadlines)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!(members[i] = st_copy_str(sb, changes[i].tm_account)))
            return -1;
        deadlines[i] = changes[i].tm_deadline;
    }
    bp.bp_members = members;
    bp.bp_deadlines = deadlines;
    bp.bp_n = n;
    bp.bp_partition = partition;
    bp.bp_epoch = epoch;
    bp.bp_position = position;
    bp.bp_clock = clock;
    sb->sb_parts[sb->sb_npart++] = bp;
    return 0;
}

int jd_store_batch_record_refused(const jd_store_batch_t *sb, size_t i)
{
    return i < sb->sb_nrec && sb->sb_recs[i].br_refused;
}

int jd_store_batch_part_refused(const jd_store_batch_t *sb, size_t k)
{
    return k < sb->sb_npart && sb->sb_parts[k].bp_refused;
}

/* ---- The batch: sending ------------------------------------------------------ */

/* Appends one store.lua "r" call for records [i, j). */
static int st_push_records(jd_store_t *st, const jd_store_batch_t *sb, size_t i, size_t j)
{
    int64_t nkeys = 0;

    for (size_t k = i; k < j; k++)
        nkeys += sb->sb_recs[k].br_sig_n ? 2 : 1;
    st_push(st, "EVALSHA");
    st_push(st, st->st_sha);
    st_push_i64(st, nkeys);
    for (size_t k = i; k < j; k++) {
        st_push_tagged(st, "", sb->sb_recs[k].br_account, ":rec");
        if (sb->sb_recs[k].br_sig_n)
            st_push_tagged(st, "", sb->sb_recs[k].br_account, ":sig");
    }
    st_push(st, "r");
    for (size_t k = i; k < j; k++) {
        const st_brec_t *br = &sb->sb_recs[k];
        st_push_mem(st, (const char *)br->br_data, br->br_len);
        st_push_i64(st, (int64_t)br->br_sig_n);
        for (size_t s = 0; s < 2 * br->br_sig_n; s++)
            st_push(st, br->br_sig[s]);
    }
    return st_send(st);
}

/* Appends one store.lua "p" call. */
static int st_push_part(jd_store_t *st, const st_bpart_t *bp)
{
    st_push(st, "EVALSHA");
    st_push(st, st->st_sha);
    st_push(st, "2");
    st_push_part_key(st, "part", bp->bp_topic, bp->bp_partition);
    st_push_part_key(st, "timers", bp->bp_topic, bp->bp_partition);
    st_push(st, "p");
    st_push_i64(st, (int64_t)bp->bp_epoch);
    if (bp->bp_position == -1)
        st_push(st, "");
    else
        st_push_i64(st, bp->bp_position);
    if (bp->bp_clock == INT64_MIN)
        st_push(st, "");
    else
        st_push_i64(st, bp->bp_clock);
    for (size_t i = 0; i < bp->bp_n; i++) {
        st_push(st, bp->bp_members[i]);
        st_push_i64(st, bp->bp_deadlines[i]);
    }
    return st_send(st);
}

/* Appends SADD <prefix>:accounts of every new account; returns 1 when
 * sent, 0 when there is none, -1 on OOM. */
static int st_push_accounts(jd_store_t *st, const jd_store_batch_t *sb)
{
    size_t members = 0;

    st_push(st, "SADD");
    st_push_global(st, "accounts");
    for (size_t i = 0; i < sb->sb_nrec; i++)
        if (sb->sb_recs[i].br_is_new && ++members)
            st_push(st, sb->sb_recs[i].br_account);
    if (!members) {
        st_drop(st);
        return 0;
    }
    return st_send(st) < 0 ? -1 : 1;
}

/* Appends the whole batch; returns the command count, or -1 on OOM. */
static long st_batch_push(jd_store_t *st, const jd_store_batch_t *sb, size_t per)
{
    long cmds = 0;
    int rc;

    for (size_t i = 0; i < sb->sb_nrec; i += per, cmds++)
        if (st_push_records(st, sb, i, i + per < sb->sb_nrec ? i + per : sb->sb_nrec) < 0)
            return -1;
    for (size_t k = 0; k < sb->sb_npart; k++, cmds++)
        if (st_push_part(st, &sb->sb_parts[k]) < 0)
            return -1;
    if ((rc = st_push_accounts(st, sb)) < 0)
        return -1;
    return cmds + rc;
}

static int st_is_noscript(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR && r->len >= 8 && memcmp(r->str, "NOSCRIPT", 8) == 0;
}

/* The reply of one record call: the refusals of records [i, i + k). */
static int st_records_reply(jd_store_batch_t *sb, size_t i, size_t k, const redisReply *r,
                            jd_err_t *err)
{
    if (r->type == REDIS_REPLY_ERROR)
        return st_reply_error(r, err, "batch (evalsha store.lua records)");
    if (r->type != REDIS_REPLY_ARRAY || r->elements != k)
        return st_unexpected(err, "batch (evalsha store.lua records)");
    for (size_t j = 0; j < k; j++)
        sb->sb_recs[i + j].br_refused = st_reply_i64(r->element[j], 0) == 1;
    return 0;
}

/* Takes the replies of st_batch_push in order; the first error is the one
 * reported; *noscript tells whether a script call met NOSCRIPT. */
static int st_batch_parse(jd_store_batch_t *sb, redisReply **r, size_t per, int *noscript,
                          jd_err_t *err)
{
    size_t c = 0;
    int rc = 0, one;

    for (size_t i = 0; i < sb->sb_nrec; i += per, c++) {
        size_t k = sb->sb_nrec - i < per ? sb->sb_nrec - i : per;
        *noscript |= st_is_noscript(r[c]);
        one = st_records_reply(sb, i, k, r[c], rc ? NULL : err);
        rc = rc ? rc : one;
    }
    for (size_t k = 0; k < sb->sb_npart; k++, c++) {
        *noscript |= st_is_noscript(r[c]);
        one = r[c]->type == REDIS_REPLY_ERROR
                  ? st_reply_error(r[c], rc ? NULL : err, "batch (evalsha store.lua part)")
              : r[c]->type != REDIS_REPLY_INTEGER
                  ? st_unexpected(rc ? NULL : err, "batch (evalsha store.lua part)")
                  : 0;
        sb->sb_parts[k].bp_refused = !one && r[c]->integer == 1;
        rc = rc ? rc : one;
    }
    return rc;
}

/* One attempt: append everything, read every reply. */
static int st_batch_once(jd_store_t *st, jd_store_batch_t *sb, int *noscript, jd_err_t *err)
{
    size_t per = jd_redis_is_cluster(st->st_rd) ? 1 : ST_CHUNK;
    long cmds = st_batch_push(st, sb, per);
    redisReply **r;
    int rc;

    if (cmds < 0)
        return st_oom_error(st, err, "batch");
    if (!cmds)
        return 0;
    if (!(r = calloc((size_t)cmds, sizeof *r)))
        return st_oom_error(st, err, "batch");
    if ((rc = st_read_all(st, r, (size_t)cmds, "batch", err)) == 0) {
        size_t scripts = (sb->sb_nrec + per - 1) / per + sb->sb_npart;
        rc = st_batch_parse(sb, r, per, noscript, err);
        if (!rc && (size_t)cmds > scripts && r[scripts]->type == REDIS_REPLY_ERROR)
            rc = st_reply_error(r[scripts], err, "batch (sadd accounts)");
        st_free_replies(r, (size_t)cmds);
    }
    free(r);
    return rc;
}

int jd_store_batch_send(jd_store_t *st, jd_store_batch_t *sb, jd_err_t *err)
{
    int rc = 0;

    for (size_t i = 0; i < sb->sb_nrec; i++)
        sb->sb_recs[i].br_refused = 0;
    for (size_t k = 0; k < sb->sb_npart; k++)
        sb->sb_parts[k].bp_refused = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        int noscript = 0;
        if ((rc = st_ensure(st, err)) != 0)
            return rc;
        rc = st_batch_once(st, sb, &noscript, err);
        if (!noscript || attempt)
            break;
        if ((rc = st_load_script(st, err)) != 0) /* flushed under us: reload, re-send */
            break;
    }
    return rc;
}

/* ---- Readers and tools --------------------------------------------------------- */

int64_t jd_store_account_count(jd_store_t *st, jd_err_t *err)
{
    redisReply *r = NULL;
    int64_t n;
    int rc;

    if ((rc = st_ensure(st, err)) != 0)
        return rc;
    st_push(st, "SCARD");
    st_push_global(st, "accounts");
    if (st_send(st) < 0)
        return st_oom_error(st, err, "scard");
    if ((rc = st_roundtrip(st, &r, 1, "scard", err)) != 0)
        return rc;
    n = st_reply_i64(r, 0);
    freeReplyObject(r);
    return n;
}

/* One SSCAN / SCAN reply: [cursor, [items]]; copies the cursor. */
static int st_scan_reply(const redisReply *r, char *cursor, size_t cap, jd_err_t *err,
                         const char *what)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY)
        return st_unexpected(err, what);
    snprintf(cursor, cap, "%s", r->element[0]->str);
    return 0;
}

int jd_store_accounts(jd_store_t *st, jd_store_account_fn fn, void *opaque, jd_err_t *err)
{
    char cursor[32] = "0";
    int rc;

    if ((rc = st_ensure(st, err)) != 0)
        return rc;
    do {
        redisReply *r = NULL;
        st_push(st, "SSCAN");
        st_push_global(st, "accounts");
        st_push(st, cursor);
        st_push(st, "COUNT");
        st_push(st, "1000");
        if (st_send(st) < 0)
            return st_oom_error(st, err, "sscan");
        if ((rc = st_roundtrip(st, &r, 1, "sscan", err)) != 0)
            return rc;
        if ((rc = st_scan_reply(r, cursor, sizeof cursor, err, "sscan")) == 0)
            for (size_t i = 0; i < r->element[1]->elements; i++)
                fn(r->element[1]->element[i]->str, opaque);
        freeReplyObject(r);
    } while (rc == 0 && strcmp(cursor, "0") != 0);
    return rc;
}

/* Sends `cmd <prefix>:<names[i]> [members[i]]` for each i in one round
 * trip; *out gets the n replies (the caller frees them and it). */
static int st_each(jd_store_t *st, const char *cmd, const char *const *names,
                   const char *const *members, size_t n, redisReply ***out, jd_err_t *err)
{
    redisReply **r;
    int rc;

    *out = NULL;
    if ((rc = st_ensure(st, err)) != 0)
        return rc;
    if (!(r = calloc(n, sizeof *r)))
        return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        st_push(st, cmd);
        st_push_global(st, names[i]);
        if (members)
            st_push(st, members[i]);
        if (st_send(st) < 0) {
            free(r);
            return st_oom_error(st, err, cmd);
        }
    }
    if ((rc = st_roundtrip(st, r, n, cmd, err)) != 0) {
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* A set member to add, sorted by set name (then position: stable). */
typedef struct st_member {
    const char *sm_name, *sm_member;
    size_t      sm_at;
} st_member_t;

static int st_member_cmp(const void *a, const void *b)
{
    const st_member_t *x = a, *y = b;
    int c = strcmp(x->sm_name, y->sm_name);
    return c ? c : (x->sm_at > y->sm_at) - (x->sm_at < y->sm_at);
}

/* One SADD per distinct name, with all of its members: a batch notes
 * many members of a few sets. */
int jd_store_sadd(jd_store_t *st, const char *const *names, const char *const *members,
                  size_t n, jd_err_t *err)
{
    st_member_t *sm;
    size_t ncmd = 0;
    redisReply **r;
    int rc;

    if (!n)
        return 0;
    if ((rc = st_ensure(st, err)) != 0)
        return rc;
    if (!(sm = calloc(n, sizeof *sm)) || !(r = calloc(n, sizeof *r))) {
        free(sm);
        return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        sm[i] = (st_member_t){names[i], members[i], i};
    qsort(sm, n, sizeof *sm, st_member_cmp);
    for (size_t i = 0; i < n; ncmd++) {
        size_t j = i;
        st_push(st, "SADD");
        st_push_global(st, sm[i].sm_name);
        for (; j < n && strcmp(sm[j].sm_name, sm[i].sm_name) == 0; j++)
            st_push(st, sm[j].sm_member);
        i = j;
        if (st_send(st) < 0) {
            free(sm);
            free(r);
            return st_oom_error(st, err, "SADD");
        }
    }
    free(sm);
    if ((rc = st_roundtrip(st, r, ncmd, "SADD", err)) == 0)
        st_free_replies(r, ncmd);
    free(r);
    return rc;
}

int jd_store_scard(jd_store_t *st, const char *const *names, size_t n, int64_t *out,
                   jd_err_t *err)
{
    redisReply **r;
    int rc = n ? st_each(st, "SCARD", names, NULL, n, &r, err) : 0;

    if (n && !rc) {
        for (size_t i = 0; i < n; i++)
            out[i] = st_reply_i64(r[i], 0);
        st_free_replies(r, n);
        free(r);
    }
    return rc;
}

/* UNLINK of every key of one SCAN reply, one command per key (keys of
 * several slots: one multi-key UNLINK would be CROSSSLOT in a cluster). */
static int64_t st_unlink_keys(jd_store_t *st, const redisReply *keys, jd_err_t *err)
{
    redisReply **u;
    size_t n = keys->elements;
    int rc;

    if (!n)
        return 0;
    if (!(u = calloc(n, sizeof *u)))
        return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        st_push(st, "UNLINK");
        st_push_mem(st, keys->element[i]->str, keys->element[i]->len);
        if (st_send(st) < 0) {
            free(u);
            return st_oom_error(st, err, "unlink");
        }
    }
    if ((rc = st_roundtrip(st, u, n, "unlink", err)) == 0)
        st_free_replies(u, n);
    free(u);
    return rc ? rc : (int64_t)n;
}

/* SCAN MATCH on the k-th master, unlinking what it finds. */
static int64_t st_drop_node(jd_store_t *st, int k, const char *match, jd_err_t *err)
{
    char cursor[32] = "0";
    int64_t rc, dropped = 0;

    do {
        redisReply *r = NULL;
        st_push(st, "SCAN");
        st_push(st, cursor);
        st_push(st, "MATCH");
        st_push(st, match);
        st_push(st, "COUNT");
        st_push(st, "1000");
        if (st_send_to(st, k) < 0)
            return st_oom_error(st, err, "scan");
        if ((rc = st_roundtrip(st, &r, 1, "scan", err)) != 0)
            return rc;
        rc = st_scan_reply(r, cursor, sizeof cursor, err, "scan");
        if (rc == 0)
            rc = st_unlink_keys(st, r->element[1], err);
        freeReplyObject(r);
        if (rc < 0)
            return rc;
        dropped += rc;
    } while (strcmp(cursor, "0") != 0);
    return dropped;
}

int64_t jd_store_drop_all(jd_store_t *st, jd_err_t *err)
{
    char *match;
    int64_t rc, dropped = 0;
    size_t m = 0;

    if ((rc = st_ensure(st, err)) != 0)
        return rc;
    if (!(match = malloc(2 * strlen(st->st_prefix) + 3)))
        return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM, "out of memory");
    for (const char *p = st->st_prefix; *p; p++) { /* glob characters match only themselves */
        if (strchr("*?[]\\", *p))
            match[m++] = '\\';
        match[m++] = *p;
    }
    memcpy(match + m, ":*", 3);
    /* every master holds part of the keys (one in single mode) */
    for (int k = 0; k < jd_redis_master_count(st->st_rd) && rc >= 0; k++)
        if ((rc = st_drop_node(st, k, match, err)) >= 0)
            dropped += rc;
    free(match);
    return rc < 0 ? rc : dropped;
}
