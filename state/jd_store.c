/*
 * jd_store: the Redis I/O of the state engine (contract and key layout in
 * jd_store.h; the fenced writes in store.lua).
 *
 * The module only moves bytes: records are opaque (jd_record decides what
 * they hold), and the one decision made in Redis is the fence, in
 * store.lua, so that it is atomic with the write it guards. Every public
 * call builds all its commands first (jd__store_push*, then
 * jd__store_send appends them to the jd_redis pipeline) and then reads
 * every reply in one loop (jd__store_read_all): one round trip per call,
 * per node in a cluster. That loop always reads every reply it appended,
 * even after an error reply, so the pipeline never holds a stale reply
 * for the next call.
 *
 * The calls are in four files: this one (keys, building commands,
 * replies, connection, life cycle), jd_store_read.c (claims, partition
 * reads, timers, record loads), jd_store_batch.c (the batched fenced
 * write) and jd_store_tools.c (readers and tools); jd_store_int.h holds
 * what they share.
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
#include "jd_store_int.h"
#include "jd_redis_auth.h"

#include <hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_arena.h"

#include "store_lua.h"

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

void jd__store_push_mem(jd_store_t *st, const char *s, size_t len)
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

void jd__store_push(jd_store_t *st, const char *s)
{
    jd__store_push_mem(st, s, s ? strlen(s) : 0);
}

void jd__store_push_i64(jd_store_t *st, int64_t v)
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
    jd__store_push_mem(st, s, len);
}

/* Pushes the key "<prefix>:<before>{<tag of src>}<after>". */
void jd__store_push_tagged(jd_store_t *st, const char *before, const char *src,
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
    jd__store_push_mem(st, key, len);
}

/* Pushes a partition's key "<prefix>:<what>:{<topic>:<partition>}", the
 * topic escaped like an account id. */
void jd__store_push_part_key(jd_store_t *st, const char *what, const char *topic,
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
    jd__store_push_tagged(st, before, name, "");
}

/* Pushes "<prefix>:<name>" (the global sets). */
void jd__store_push_global(jd_store_t *st, const char *name)
{
    size_t len = strlen(st->st_prefix) + strlen(name) + 2;
    char *key = jd_arena_alloc(&st->st_arena, len);
    if (!key) {
        st->st_oom = 1;
        return;
    }
    jd__store_push_mem(st, key, (size_t)snprintf(key, len, "%s:%s", st->st_prefix, name));
}

/* Drops the command built so far (nothing is sent). */
void jd__store_drop(jd_store_t *st)
{
    st->st_argc = 0;
    st->st_oom = 0;
    jd_arena_reset(&st->st_arena);
}

/* Appends the command built so far (to the k-th master when k >= 0:
 * keyless commands) and starts a new one. 0, or -1 when out of memory. */
int jd__store_send_to(jd_store_t *st, int k)
{
    int rc = -1;
    if (!st->st_oom &&
        (k < 0 ? jd_redis_append(st->st_rd, (int)st->st_argc, st->st_argv, st->st_argvlen)
               : jd_redis_append_to(st->st_rd, k, (int)st->st_argc, st->st_argv,
                                    st->st_argvlen)) == 0) {
        st->st_commands++;
        rc = 0;
    }
    jd__store_drop(st);
    return rc;
}

int jd__store_send(jd_store_t *st)
{
    return jd__store_send_to(st, -1);
}

/* ---- Replies and errors --------------------------------------------------- */

static void st_disconnect(jd_store_t *st)
{
    jd_redis_disconnect(st->st_rd);
    jd__store_drop(st);
}

/* Out of memory while building: the pipeline may hold part of a call, so
 * the connection is dropped like after an I/O error. */
int jd__store_oom_error(jd_store_t *st, jd_err_t *err, const char *what)
{
    st_disconnect(st);
    return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM,
                      "redis %s: out of memory building the command", what);
}

int jd__store_reply_error(const redisReply *r, jd_err_t *err, const char *what)
{
    if (jd_redis_is_noauth(r->str, r->len)) /* a configuration error, not an outage */
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "redis %s: %.*s: set redis.password (or redis.password_file, or "
                          "JOURNEYD_REDIS_PASSWORD)", what, (int)r->len, r->str);
    return jd_err_set(err, JD_ERR_RETRY, JD_E_REDIS, "redis %s: %.*s", what, (int)r->len,
                      r->str ? r->str : "");
}

int jd__store_unexpected(jd_err_t *err, const char *what)
{
    return jd_err_set(err, JD_ERR_RETRY, JD_E_REDIS, "redis %s: unexpected reply", what);
}

void jd__store_free_replies(redisReply **r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        freeReplyObject(r[i]);
        r[i] = NULL;
    }
}

/* Sends what was appended and reads n replies: one round trip. On an I/O
 * error frees what it read and disconnects. */
int jd__store_read_all(jd_store_t *st, redisReply **r, size_t n, const char *what,
                       jd_err_t *err)
{
    st->st_round_trips++;
    for (size_t i = 0; i < n; i++) {
        if (jd_redis_read(st->st_rd, &r[i], err) != 0) {
            jd__store_free_replies(r, i);
            st_disconnect(st);
            jd_err_prefix(err, "redis %s", what);
            return JD_ERR_RETRY;
        }
    }
    return 0;
}

/* jd__store_read_all, and any error reply fails the call (the replies are freed
 * then). */
int jd__store_roundtrip(jd_store_t *st, redisReply **r, size_t n, const char *what,
                        jd_err_t *err)
{
    int rc = jd__store_read_all(st, r, n, what, err);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (r[i]->type == REDIS_REPLY_ERROR)
            rc = jd__store_reply_error(r[i], err, what);
    if (rc)
        jd__store_free_replies(r, n);
    return rc;
}

/* A decimal string or integer reply as an int64; dflt for nil. */
int64_t jd__store_reply_i64(const redisReply *r, int64_t dflt)
{
    if (r->type == REDIS_REPLY_INTEGER)
        return (int64_t)r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return dflt;
}

/* ---- Connection ---------------------------------------------------------- */

int jd__store_load_script(jd_store_t *st, jd_err_t *err)
{
    redisReply *r = NULL;
    int rc = 0;

    jd__store_push(st, "SCRIPT");
    jd__store_push(st, "LOAD");
    jd__store_push(st, jd_store_lua);
    if (jd__store_send(st) < 0)
        return jd__store_oom_error(st, err, "script load");
    if (jd__store_read_all(st, &r, 1, "script load", err) != 0)
        return JD_ERR_RETRY;
    if (r->type == REDIS_REPLY_STRING && r->len == ST_SHA_LEN)
        memcpy(st->st_sha, r->str, ST_SHA_LEN + 1);
    else if (r->type == REDIS_REPLY_ERROR)
        rc = jd__store_reply_error(r, err, "script load");
    else
        rc = jd__store_unexpected(err, "script load");
    freeReplyObject(r);
    return rc;
}

int jd__store_ensure(jd_store_t *st, jd_err_t *err)
{
    int rc;
    if (jd_redis_connected(st->st_rd))
        return 0;
    rc = jd_redis_connect(st->st_rd, err);
    return rc ? rc : jd__store_load_script(st, err);
}

int jd_store_connect(jd_store_t *st, jd_err_t *err)
{
    return jd__store_ensure(st, err);
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
