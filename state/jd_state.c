/*
 * jd_state: the hiredis shell around the state scripts (contract in
 * jd_state.h; key layout and ARGV packing in apply.lua and commit.lua).
 *
 * The shell is deliberately thin. Everything that decides *what* an event
 * means (is it a usage event, a value event, which attributes feed signals,
 * which UTC day it falls on) is decided here in C from the decoded event and
 * handed to apply.lua as plain fields; the script only does set inserts,
 * min/max and last-writer-wins, and returns raw aggregates that
 * jd_signals_derive() turns into signals. So the Lua stays small and
 * deterministic and the interesting logic is unit-tested in C.
 *
 * Round trips. Every public call is one pipelined round trip in the common
 * case: all commands are appended with redisAppendCommandArgv, then the
 * replies are read in order (st_pipeline). A NOSCRIPT reply (script cache
 * flushed, failover to a replica that never saw SCRIPT LOAD) reloads both
 * scripts and re-sends only the items that failed, once.
 *
 * Connection. st_rc is NULL while disconnected. Any I/O error or timeout
 * frees the context (its output buffer may hold half-sent commands, so it
 * can never be reused) and returns JD_ERR_RETRY; the next call reconnects
 * and reloads the scripts. Redis error replies leave the connection usable.
 *
 * The outbox index race. <prefix>:outbox (a set of account ids) lives in a
 * different slot from the account's outbox hash, so "remove the account
 * from the index when its outbox is empty" cannot be one atomic script in
 * Redis Cluster. Walk through a naive ack (HDEL, HLEN == 0, SREM) racing a
 * commit of a new trigger (SADD index, commit script): the ack reads HLEN 0,
 * the commit SADDs and writes its entry, the ack's SREM lands last, and a
 * pending trigger is no longer indexed: a restart would never re-publish
 * it. So the committer SADDs both before its script (a crash after the
 * script still leaves it indexed) and after it, and the acker, after its
 * SREM, reads HLEN again and SADDs back if entries appeared. Any commit
 * whose entry is pending then either SADDs after the SREM, or committed
 * before it and is seen by the acker's second HLEN.
 *
 * Ownership: jd_state_t owns its copy of the configuration, the hiredis
 * context and a scratch arena for command arguments (reset after each
 * command is appended; hiredis copies the arguments). Not thread-safe: one
 * jd_state_t per thread.
 */
#include "jd_state.h"

#include <hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "jd_arena.h"
#include "jd_window.h"

#include "apply_lua.h"
#include "commit_lua.h"

#define ST_SHA_LEN       40
#define ST_STATE_TXT_MAX 128
#define ST_TS_MAX        INT64_C(10000000000000) /* 10^13: 13-digit stamps */
#define ST_APPLY_KEYS    6
#define ST_APPLY_REPLY   12

struct jd_state {
    char         *st_host;
    int           st_port;
    char         *st_unix_path;
    char         *st_prefix;
    int           st_timeout_ms;
    int           st_retention_days;
    char        **st_features;      /* value features */
    size_t        st_feature_cnt;
    redisContext *st_rc;            /* NULL while disconnected */
    char          st_apply_sha[ST_SHA_LEN + 1];
    char          st_commit_sha[ST_SHA_LEN + 1];
    jd_arena_t    st_arena;         /* argument strings of one command */
    const char  **st_argv;          /* arguments of the command being built */
    size_t       *st_argvlen;
    size_t        st_argc;
    size_t        st_argcap;
    int           st_oom;           /* an allocation failed while building */
};

void jd_state_conf_default(jd_state_conf_t *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->sc_host = "127.0.0.1";
    sc->sc_port = 6379;
    sc->sc_prefix = "jd";
    sc->sc_timeout_ms = 2000;
    sc->sc_retention_days = 35;
}

/* ---- Keys --------------------------------------------------------------- */

size_t jd_state_key_tag(const char *account, char *buf, size_t cap)
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

/* "<prefix>:{T}:<what>" in the scratch arena; NULL (st_oom set) on OOM. */
static const char *st_key(jd_state_t *st, const char *account,
                          const char *what)
{
    size_t tag_len = jd_state_key_tag(account, NULL, 0);
    size_t len = strlen(st->st_prefix) + tag_len + strlen(what) + 5;
    char *key = jd_arena_alloc(&st->st_arena, len + 1);

    if (!key) {
        st->st_oom = 1;
        return NULL;
    }
    int off = snprintf(key, len + 1, "%s:{", st->st_prefix);
    jd_state_key_tag(account, key + off, len + 1 - (size_t)off);
    snprintf(key + off + tag_len, len + 1 - (size_t)off - tag_len, "}:%s",
             what);
    return key;
}

/* "<prefix>:<name>": the global index sets. */
static const char *st_global_key(jd_state_t *st, const char *name)
{
    size_t len = strlen(st->st_prefix) + strlen(name) + 2;
    char *key = jd_arena_alloc(&st->st_arena, len);
    if (!key) {
        st->st_oom = 1;
        return NULL;
    }
    snprintf(key, len, "%s:%s", st->st_prefix, name);
    return key;
}

/* ---- Building commands ---------------------------------------------------- */

static void st_push_mem(jd_state_t *st, const char *s, size_t len)
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

static void st_push(jd_state_t *st, const char *s)
{
    st_push_mem(st, s, s ? strlen(s) : 0);
}

static void st_push_i64(jd_state_t *st, const char *fmt, int64_t v)
{
    char *s = jd_arena_alloc(&st->st_arena, 24);
    if (!s) {
        st->st_oom = 1;
        return;
    }
    snprintf(s, 24, fmt, (long long)v);
    st_push(st, s);
}

/* Sets argument `at`, pushed earlier as a placeholder, to the decimal v
 * (for counts that are known only after their items were pushed). */
static void st_set_i64(jd_state_t *st, size_t at, int64_t v)
{
    char *s = jd_arena_alloc(&st->st_arena, 24);
    if (!s || at >= st->st_argc) {
        st->st_oom = 1;
        return;
    }
    st->st_argvlen[at] = (size_t)snprintf(s, 24, "%lld", (long long)v);
    st->st_argv[at] = s;
}

/* Appends the command built so far to the pipeline and starts a new one.
 * Returns 1 (one command appended) or -1 (out of memory). */
static int st_send(jd_state_t *st)
{
    int rc = -1;
    if (!st->st_oom &&
        redisAppendCommandArgv(st->st_rc, (int)st->st_argc, st->st_argv,
                               st->st_argvlen) == REDIS_OK)
        rc = 1;
    st->st_argc = 0;
    st->st_oom = 0;
    jd_arena_reset(&st->st_arena);
    return rc;
}

/* ---- Connection ---------------------------------------------------------- */

static void st_disconnect(jd_state_t *st)
{
    redisFree(st->st_rc);
    st->st_rc = NULL;
    st->st_argc = 0;
    st->st_oom = 0;
    jd_arena_reset(&st->st_arena);
}

static int st_io_error(jd_state_t *st, jd_err_t *err, const char *what)
{
    const char *why = st->st_rc && st->st_rc->errstr[0] ? st->st_rc->errstr
                                                        : "connection lost";
    char where[300];

    if (st->st_unix_path)
        snprintf(where, sizeof where, "%s", st->st_unix_path);
    else
        snprintf(where, sizeof where, "%s:%d", st->st_host, st->st_port);
    /* a socket timeout surfaces as EAGAIN's text: say what it means */
    if (strstr(why, "temporarily unavailable"))
        jd_err_set(err, JD_ERR_RETRY, JD_E_REDIS,
                   "redis %s: %s: timed out after %d ms", where, what,
                   st->st_timeout_ms);
    else
        jd_err_set(err, JD_ERR_RETRY, JD_E_REDIS, "redis %s: %s: %s", where,
                   what, why);
    st_disconnect(st);
    return JD_ERR_RETRY;
}

/* Out of memory while building commands: the pipeline may hold part of a
 * call, so the connection is dropped like after an I/O error. */
static int st_oom_error(jd_state_t *st, jd_err_t *err, const char *what)
{
    st_disconnect(st);
    return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM,
                      "redis %s: out of memory building the command", what);
}

static int st_reply_error(const redisReply *r, jd_err_t *err, const char *what)
{
    return jd_err_set(err, JD_ERR_RETRY, JD_E_REDIS, "redis %s: %.*s", what,
                      (int)r->len, r->str ? r->str : "");
}

/* Reads n replies; on an I/O error frees what it read and disconnects. */
static int st_read(jd_state_t *st, redisReply **replies, size_t n,
                   jd_err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        void *r = NULL;
        if (redisGetReply(st->st_rc, &r) != REDIS_OK || !r) {
            for (size_t j = 0; j < i; j++) {
                freeReplyObject(replies[j]);
                replies[j] = NULL;
            }
            return st_io_error(st, err, "read");
        }
        replies[i] = r;
    }
    return 0;
}

static void st_free_replies(redisReply **replies, size_t n)
{
    for (size_t i = 0; i < n; i++)
        freeReplyObject(replies[i]);
}

static int st_load_scripts(jd_state_t *st, jd_err_t *err)
{
    const char *src[2] = {jd_apply_lua, jd_commit_lua};
    char *sha[2] = {st->st_apply_sha, st->st_commit_sha};
    redisReply *r[2] = {NULL, NULL};
    int rc = 0;

    for (int i = 0; i < 2; i++) {
        st_push(st, "SCRIPT");
        st_push(st, "LOAD");
        st_push(st, src[i]);
        if (st_send(st) < 0)
            return st_oom_error(st, err, "script load");
    }
    if (st_read(st, r, 2, err) != 0)
        return JD_ERR_RETRY;
    for (int i = 0; i < 2 && rc == 0; i++) {
        if (r[i]->type == REDIS_REPLY_STRING && r[i]->len == ST_SHA_LEN)
            memcpy(sha[i], r[i]->str, ST_SHA_LEN + 1);
        else if (r[i]->type == REDIS_REPLY_ERROR)
            rc = st_reply_error(r[i], err, "script load");
        else
            rc = jd_err_set(err, JD_ERR_RETRY, JD_E_REDIS,
                            "redis script load: unexpected reply");
    }
    st_free_replies(r, 2);
    return rc;
}

static int st_connect(jd_state_t *st, jd_err_t *err)
{
    struct timeval tv = {st->st_timeout_ms / 1000,
                         (st->st_timeout_ms % 1000) * 1000};

    if (st->st_unix_path)
        st->st_rc = redisConnectUnixWithTimeout(st->st_unix_path, tv);
    else
        st->st_rc = redisConnectWithTimeout(st->st_host, st->st_port, tv);
    if (!st->st_rc)
        return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM,
                          "redis: cannot allocate a connection");
    if (st->st_rc->err)
        return st_io_error(st, err, "connect");
    if (redisSetTimeout(st->st_rc, tv) != REDIS_OK)
        return st_io_error(st, err, "set timeout");
    return st_load_scripts(st, err);
}

static int st_ensure(jd_state_t *st, jd_err_t *err)
{
    return st->st_rc ? 0 : st_connect(st, err);
}

/* ---- Life cycle ------------------------------------------------------------ */

static int st_check_conf(const jd_state_conf_t *sc, jd_err_t *err)
{
    if (!sc->sc_prefix || !*sc->sc_prefix ||
        strpbrk(sc->sc_prefix, "{}"))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "redis.prefix must be non-empty, without '{' '}'");
    if (sc->sc_retention_days < JD_WINDOW_MAX_DAYS ||
        sc->sc_retention_days > 3660)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "retention_days must be in [%d, 3660], not %d",
                          JD_WINDOW_MAX_DAYS, sc->sc_retention_days);
    if (sc->sc_timeout_ms <= 0)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "redis.timeout_ms must be > 0");
    if (!sc->sc_unix_path && (!sc->sc_host || sc->sc_port <= 0 ||
                              sc->sc_port > 65535))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "redis: need a unix socket or host and port 1..65535");
    return 0;
}

static char *st_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int st_copy_conf(jd_state_t *st, const jd_state_conf_t *sc)
{
    st->st_host = st_strdup(sc->sc_host);
    st->st_port = sc->sc_port;
    st->st_unix_path = st_strdup(sc->sc_unix_path);
    st->st_prefix = st_strdup(sc->sc_prefix);
    st->st_timeout_ms = sc->sc_timeout_ms;
    st->st_retention_days = sc->sc_retention_days;
    if ((sc->sc_host && !st->st_host) || (sc->sc_unix_path &&
        !st->st_unix_path) || !st->st_prefix)
        return -1;
    if (sc->sc_value_feature_cnt) {
        st->st_features = calloc(sc->sc_value_feature_cnt, sizeof(char *));
        if (!st->st_features)
            return -1;
        st->st_feature_cnt = sc->sc_value_feature_cnt;
        for (size_t i = 0; i < st->st_feature_cnt; i++)
            if (!(st->st_features[i] = st_strdup(sc->sc_value_features[i])))
                return -1;
    }
    return 0;
}

jd_state_t *jd_state_new(const jd_state_conf_t *sc, jd_err_t *err)
{
    jd_state_t *st;

    if (st_check_conf(sc, err) != 0)
        return NULL;
    if (!(st = calloc(1, sizeof *st))) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        return NULL;
    }
    jd_arena_init(&st->st_arena, 64 * 1024);
    if (st_copy_conf(st, sc) != 0) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        jd_state_destroy(st);
        return NULL;
    }
    if (st_connect(st, err) != 0) {
        jd_state_destroy(st);
        return NULL;
    }
    return st;
}

void jd_state_destroy(jd_state_t *st)
{
    if (!st)
        return;
    st_disconnect(st);
    jd_arena_destroy(&st->st_arena);
    for (size_t i = 0; i < st->st_feature_cnt; i++)
        free(st->st_features[i]);
    free(st->st_features);
    free(st->st_host);
    free(st->st_unix_path);
    free(st->st_prefix);
    free(st->st_argv);
    free(st->st_argvlen);
    free(st);
}

/* ---- The scripted pipeline --------------------------------------------------- */

/* One pipelined call: optional index commands before and after, and one
 * script per item. ops_item appends item i's EVALSHA and returns 1, or 0
 * when the item has nothing to send, or -1 on OOM. ops_reply consumes the
 * reply of a sent item. ops_index appends index commands (tail = 0 before
 * the items, 1 after) and returns how many, or -1. */
typedef struct st_ops {
    size_t so_n;
    int  (*so_item)(jd_state_t *st, size_t i, void *ctx);
    int  (*so_reply)(jd_state_t *st, size_t i, const redisReply *r,
                     void *ctx, jd_err_t *err);
    int  (*so_index)(jd_state_t *st, int tail, void *ctx);
    void  *so_ctx;
} st_ops_t;

static int st_is_noscript(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR && r->len >= 8 &&
           memcmp(r->str, "NOSCRIPT", 8) == 0;
}

/* Appends index commands and the pending items; returns the number of
 * index commands before (*head) and after (*tail), or -1 on OOM. */
static int st_pipeline_send(jd_state_t *st, const st_ops_t *ops,
                            unsigned char *todo, int *head, int *tail)
{
    *head = ops->so_index ? ops->so_index(st, 0, ops->so_ctx) : 0;
    if (*head < 0)
        return -1;
    for (size_t i = 0; i < ops->so_n; i++) {
        if (!todo[i])
            continue;
        int rc = ops->so_item(st, i, ops->so_ctx);
        if (rc < 0)
            return -1;
        todo[i] = (unsigned char)rc;
    }
    *tail = ops->so_index ? ops->so_index(st, 1, ops->so_ctx) : 0;
    return *tail < 0 ? -1 : 0;
}

/* Reads one index reply; records a Redis error unless one was recorded
 * already (rc != 0): the first error is the one reported. */
static int st_index_reply(jd_state_t *st, int rc, jd_err_t *err)
{
    redisReply *r = NULL;
    if (st_read(st, &r, 1, err) != 0)
        return JD_ERR_RETRY;
    if (r->type == REDIS_REPLY_ERROR && rc == 0)
        rc = st_reply_error(r, err, "index");
    freeReplyObject(r);
    return rc;
}

/* Reads the replies of one attempt. Items answered NOSCRIPT stay in todo
 * (when retry is allowed); *again tells whether there are any. */
static int st_pipeline_recv(jd_state_t *st, const st_ops_t *ops,
                            unsigned char *todo, int head, int tail,
                            int retry, int *again, jd_err_t *err)
{
    int rc = 0;
    *again = 0;
    for (int k = 0; k < head; k++)
        if ((rc = st_index_reply(st, rc, err)) == JD_ERR_RETRY && !st->st_rc)
            return rc;
    for (size_t i = 0; i < ops->so_n; i++) {
        redisReply *r = NULL;
        if (!todo[i])
            continue;
        if (st_read(st, &r, 1, err) != 0)
            return JD_ERR_RETRY;
        if (retry && st_is_noscript(r)) {
            *again = 1;
        } else {
            jd_err_t *e = rc ? NULL : err; /* keep the first error */
            int irc = r->type == REDIS_REPLY_ERROR
                          ? st_reply_error(r, e, "script")
                          : ops->so_reply(st, i, r, ops->so_ctx, e);
            rc = rc ? rc : irc;
            todo[i] = 0;
        }
        freeReplyObject(r);
    }
    for (int k = 0; k < tail; k++)
        if ((rc = st_index_reply(st, rc, err)) == JD_ERR_RETRY && !st->st_rc)
            return rc;
    return rc;
}

static int st_pipeline(jd_state_t *st, const st_ops_t *ops, jd_err_t *err)
{
    unsigned char *todo;
    int head, tail, again = 0, rc, first = 0;

    if ((rc = st_ensure(st, err)) != 0)
        return rc;
    if (!(todo = malloc(ops->so_n ? ops->so_n : 1)))
        return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM, "out of memory");
    memset(todo, 1, ops->so_n);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (st_pipeline_send(st, ops, todo, &head, &tail) != 0) {
            rc = st_oom_error(st, err, "pipeline");
            break;
        }
        rc = st_pipeline_recv(st, ops, todo, head, tail, attempt == 0,
                              &again, first ? NULL : err);
        first = first ? first : rc;
        if (!st->st_rc || !again)
            break;
        if ((rc = st_load_scripts(st, err)) != 0) /* NOSCRIPT: reload */
            break;
    }
    free(todo);
    return first ? first : rc;
}

/* ---- apply --------------------------------------------------------------- */

typedef struct st_apply_ctx {
    jd_account_batch_t *ac_abs;
    size_t              ac_n;
    const char *const  *ac_rule_ids;
    size_t              ac_rule_cnt;
    int                 ac_index;     /* add accounts to <prefix>:accounts */
} st_apply_ctx_t;

static int st_is_value_feature(const jd_state_t *st, const char *feature)
{
    for (size_t i = 0; feature && i < st->st_feature_cnt; i++)
        if (strcmp(st->st_features[i], feature) == 0)
            return 1;
    return 0;
}

/* The flags apply.lua acts on (see its header): the meaning of an event is
 * decided here, not in Lua. */
static const char *st_event_flags(const jd_state_t *st, const jd_event_t *ev)
{
    int usage = (ev->ev_type == JD_EV_FEATURE_USED ||
                 ev->ev_type == JD_EV_LOGIN) && ev->ev_user && *ev->ev_user;
    int start = ev->ev_type == JD_EV_ACCOUNT_CREATED ||
                ev->ev_type == JD_EV_CONTRACT_SIGNED;
    int value = ev->ev_type == JD_EV_FIRST_VALUE ||
                (ev->ev_type == JD_EV_FEATURE_USED &&
                 st_is_value_feature(st, ev->ev_feature));
    static const char *const table[8] = {"", "u", "s", "us",
                                         "v", "uv", "sv", "usv"};
    return table[usage | start << 1 | value << 2];
}

/* Pushes the (name, value) pairs of the attributes that feed signals, with
 * their count in front. Bad values are left out, so they never win LWW. */
static void st_push_attrs(jd_state_t *st, const jd_event_t *ev)
{
    size_t count_at = st->st_argc, n = 0;

    st_push(st, "0"); /* replaced below */
    for (size_t i = 0; ev->ev_type == JD_EV_ACCOUNT_UPDATED &&
                       i < ev->ev_attr_cnt; i++) {
        const jd_attr_t *at = &ev->ev_attrs[i];
        char *buf = jd_arena_alloc(&st->st_arena, 32);
        const char *val;
        if (!buf) {
            st->st_oom = 1;
            return;
        }
        if (jd_signals_attr_normalize(at->at_key, at->at_val, &val, buf,
                                      32) == 1) {
            st_push(st, at->at_key);
            st_push(st, val);
            n++;
        }
    }
    if (n)
        st_set_i64(st, count_at, (int64_t)n);
}

static int st_event_ok(const jd_event_t *ev)
{
    return ev && ev->ev_id && *ev->ev_id && ev->ev_occurred_at >= 0 &&
           ev->ev_occurred_at < ST_TS_MAX;
}

static void st_push_event(jd_state_t *st, const jd_event_t *ev)
{
    st_push(st, ev->ev_id);
    st_push_i64(st, "%lld", jd_window_day(ev->ev_occurred_at));
    st_push_i64(st, "%013lld", ev->ev_occurred_at);
    st_push(st, st_event_flags(st, ev));
    st_push(st, ev->ev_user && *ev->ev_user ? ev->ev_user : "");
    st_push_attrs(st, ev);
}

/* EVALSHA apply 6 KEYS... R K rule_ids... N events... */
static int st_apply_item(jd_state_t *st, size_t i, void *vctx)
{
    static const char *const what[ST_APPLY_KEYS] = {
        "", "meta", "attr", "attr_ts", "days", "rules"};
    st_apply_ctx_t *ac = vctx;
    jd_account_batch_t *ab = &ac->ac_abs[i];
    size_t count_at;

    st_push(st, "EVALSHA");
    st_push(st, st->st_apply_sha);
    st_push_i64(st, "%lld", ST_APPLY_KEYS);
    for (int k = 0; k < ST_APPLY_KEYS; k++)
        st_push(st, st_key(st, ab->ab_account, what[k]));
    st_push_i64(st, "%lld", st->st_retention_days);
    st_push_i64(st, "%lld", (int64_t)ac->ac_rule_cnt);
    for (size_t k = 0; k < ac->ac_rule_cnt; k++)
        st_push(st, ac->ac_rule_ids[k]);
    count_at = st->st_argc;
    st_push(st, "0");
    ab->ab_rejected = 0;
    for (size_t e = 0; e < ab->ab_event_cnt; e++) {
        if (st_event_ok(ab->ab_events[e]))
            st_push_event(st, ab->ab_events[e]);
        else
            ab->ab_rejected++;
    }
    st_set_i64(st, count_at, (int64_t)(ab->ab_event_cnt - ab->ab_rejected));
    return st_send(st);
}

/* SADD <prefix>:accounts, after the scripts, of every account with events. */
static int st_apply_index(jd_state_t *st, int tail, void *vctx)
{
    st_apply_ctx_t *ac = vctx;
    size_t added = 0;

    if (!tail || !ac->ac_index)
        return 0;
    st_push(st, "SADD");
    st_push(st, st_global_key(st, "accounts"));
    for (size_t i = 0; i < ac->ac_n; i++) {
        const jd_account_batch_t *ab = &ac->ac_abs[i];
        if (ab->ab_event_cnt > ab->ab_rejected) {
            st_push(st, ab->ab_account ? ab->ab_account : "");
            added++;
        }
    }
    if (!added) {
        st->st_argc = 0;
        jd_arena_reset(&st->st_arena);
        return 0;
    }
    return st_send(st);
}

/* An optional integer element of the apply reply. */
static int64_t st_reply_ts(const redisReply *r)
{
    return r->type == REDIS_REPLY_INTEGER ? (int64_t)r->integer
                                          : JD_SIGNALS_NO_TS;
}

static int64_t st_reply_int(const redisReply *r)
{
    return r->type == REDIS_REPLY_INTEGER ? (int64_t)r->integer : 0;
}

static size_t st_reply_count(const redisReply *r)
{
    return r->type == REDIS_REPLY_INTEGER && r->integer > 0
               ? (size_t)r->integer : 0;
}

/* Fills raw from an apply reply; the strings stay in the reply. */
static int st_apply_raw(const redisReply *r, jd_signals_raw_t *raw,
                        jd_err_t *err)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != ST_APPLY_REPLY ||
        r->element[10]->type != REDIS_REPLY_ARRAY ||
        r->element[11]->type != REDIS_REPLY_ARRAY)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_INTERNAL,
                          "apply.lua: unexpected reply shape");
    jd_signals_raw_init(raw);
    raw->sr_as_of = st_reply_ts(r->element[0]);
    raw->sr_users_1d = st_reply_int(r->element[1]);
    raw->sr_users_7d = st_reply_int(r->element[2]);
    raw->sr_users_28d = st_reply_int(r->element[3]);
    raw->sr_start_at = st_reply_ts(r->element[4]);
    raw->sr_first_value_at = st_reply_ts(r->element[5]);
    raw->sr_last_event_at = st_reply_ts(r->element[6]);
    const redisReply *attrs = r->element[10];
    for (size_t i = 0; i + 1 < attrs->elements; i += 2)
        if (attrs->element[i]->type == REDIS_REPLY_STRING &&
            attrs->element[i + 1]->type == REDIS_REPLY_STRING)
            jd_signals_raw_set_attr(raw, attrs->element[i]->str,
                                    attrs->element[i + 1]->str);
    return 0;
}

static int st_apply_reply(jd_state_t *st, size_t i, const redisReply *r,
                          void *vctx, jd_err_t *err)
{
    st_apply_ctx_t *ac = vctx;
    jd_account_batch_t *ab = &ac->ac_abs[i];
    jd_signals_raw_t raw;
    int rc;

    (void)st;
    if ((rc = st_apply_raw(r, &raw, err)) != 0)
        return rc;
    jd_signals_derive(&ab->ab_signals, &raw);
    ab->ab_applied = st_reply_count(r->element[7]);
    ab->ab_duplicates = st_reply_count(r->element[8]);
    ab->ab_late_dropped = st_reply_count(r->element[9]);
    const redisReply *states = r->element[11];
    for (size_t k = 0; k < ac->ac_rule_cnt; k++) {
        const redisReply *s = k < states->elements ? states->element[k] : NULL;
        /* malformed text parses as the initial state (contract) */
        jd_rule_state_parse(s && s->type == REDIS_REPLY_STRING ? s->str : NULL,
                            &ab->ab_rule_states[k]);
    }
    return 0;
}

int jd_state_apply(jd_state_t *st, jd_account_batch_t *abs, size_t n,
                   const char *const *rule_ids, size_t rule_cnt,
                   jd_err_t *err)
{
    st_apply_ctx_t ac = {abs, n, rule_ids, rule_cnt, 1};
    st_ops_t ops = {n, st_apply_item, st_apply_reply, st_apply_index, &ac};

    for (size_t i = 0; i < n; i++) {
        abs[i].ab_applied = abs[i].ab_duplicates = 0;
        abs[i].ab_late_dropped = abs[i].ab_rejected = 0;
        jd_signals_clear(&abs[i].ab_signals);
    }
    if (n == 0)
        return 0;
    return st_pipeline(st, &ops, err);
}

/* Same script, zero events, no index update: reads only. */
int jd_state_inspect(jd_state_t *st, const char *account, jd_signals_t *sg,
                     jd_err_t *err)
{
    jd_account_batch_t ab;
    st_apply_ctx_t ac = {&ab, 1, NULL, 0, 0};
    st_ops_t ops = {1, st_apply_item, st_apply_reply, NULL, &ac};
    int rc;

    memset(&ab, 0, sizeof ab);
    ab.ab_account = account;
    jd_signals_clear(sg);
    if ((rc = st_pipeline(st, &ops, err)) != 0)
        return rc;
    jd_signals_copy(sg, &ab.ab_signals);
    if (sg->sg_val[JD_SIG_AS_OF].type == JD_VAL_NULL)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_MISSING_FIELD,
                          "account '%s' has no state",
                          account ? account : "");
    return 0;
}

/* ---- commit ----------------------------------------------------------------- */

typedef struct st_commit_ctx {
    const jd_state_commit_t *cc_cms;
    size_t                   cc_n;
} st_commit_ctx_t;

/* EVALSHA commit 2 rules outbox S (rule_id state)... (tid payload)... */
static int st_commit_item(jd_state_t *st, size_t i, void *vctx)
{
    const jd_state_commit_t *cm = &((st_commit_ctx_t *)vctx)->cc_cms[i];

    if (cm->cm_rule_cnt == 0 && cm->cm_trigger_cnt == 0)
        return 0;
    st_push(st, "EVALSHA");
    st_push(st, st->st_commit_sha);
    st_push(st, "2");
    st_push(st, st_key(st, cm->cm_account, "rules"));
    st_push(st, st_key(st, cm->cm_account, "outbox"));
    st_push_i64(st, "%lld", (int64_t)cm->cm_rule_cnt);
    for (size_t k = 0; k < cm->cm_rule_cnt; k++) {
        char *txt = jd_arena_alloc(&st->st_arena, ST_STATE_TXT_MAX);
        if (!txt) {
            st->st_oom = 1;
            break;
        }
        jd_rule_state_format(&cm->cm_states[k], txt, ST_STATE_TXT_MAX);
        st_push(st, cm->cm_rule_ids[k]);
        st_push(st, txt);
    }
    for (size_t k = 0; k < cm->cm_trigger_cnt; k++) {
        st_push(st, cm->cm_trigger_ids[k]);
        st_push_mem(st, (const char *)cm->cm_payloads[k],
                    cm->cm_payload_lens[k]);
    }
    return st_send(st);
}

/* SADD <prefix>:outbox of every account with triggers, before and after
 * the scripts (the outbox index race at the top of this file). */
static int st_commit_index(jd_state_t *st, int tail, void *vctx)
{
    st_commit_ctx_t *cc = vctx;
    size_t added = 0;

    (void)tail;
    st_push(st, "SADD");
    st_push(st, st_global_key(st, "outbox"));
    for (size_t i = 0; i < cc->cc_n; i++) {
        if (cc->cc_cms[i].cm_trigger_cnt) {
            st_push(st, cc->cc_cms[i].cm_account);
            added++;
        }
    }
    if (!added) {
        st->st_argc = 0;
        jd_arena_reset(&st->st_arena);
        return 0;
    }
    return st_send(st);
}

static int st_commit_reply(jd_state_t *st, size_t i, const redisReply *r,
                           void *vctx, jd_err_t *err)
{
    (void)st;
    (void)i;
    (void)vctx;
    if (r->type != REDIS_REPLY_INTEGER)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_INTERNAL,
                          "commit.lua: unexpected reply");
    return 0;
}

int jd_state_commit(jd_state_t *st, const jd_state_commit_t *cms, size_t n,
                    jd_err_t *err)
{
    st_commit_ctx_t cc = {cms, n};
    st_ops_t ops = {n, st_commit_item, st_commit_reply, st_commit_index, &cc};
    size_t work = 0;

    for (size_t i = 0; i < n; i++)
        work += cms[i].cm_rule_cnt + cms[i].cm_trigger_cnt;
    return work ? st_pipeline(st, &ops, err) : 0;
}

/* ---- Plain commands ------------------------------------------------------------ */

/* Sends the commands appended so far (count of them) and reads the replies
 * into r[]; any error reply fails the call (replies are freed then). */
static int st_roundtrip(jd_state_t *st, redisReply **r, size_t count,
                        const char *what, jd_err_t *err)
{
    int rc = 0;
    if (st_read(st, r, count, err) != 0)
        return JD_ERR_RETRY;
    for (size_t i = 0; i < count && rc == 0; i++)
        if (r[i]->type == REDIS_REPLY_ERROR)
            rc = st_reply_error(r[i], err, what);
    if (rc) {
        st_free_replies(r, count);
        memset(r, 0, count * sizeof *r);
    }
    return rc;
}

int64_t jd_state_account_count(jd_state_t *st, jd_err_t *err)
{
    redisReply *r = NULL;
    int64_t n;
    int rc;

    if ((rc = st_ensure(st, err)) != 0)
        return rc;
    st_push(st, "SCARD");
    st_push(st, st_global_key(st, "accounts"));
    if (st_send(st) < 0)
        return st_oom_error(st, err, "scard");
    if ((rc = st_roundtrip(st, &r, 1, "scard", err)) != 0)
        return rc;
    n = r->type == REDIS_REPLY_INTEGER ? (int64_t)r->integer : 0;
    freeReplyObject(r);
    return n;
}

/* ---- Outbox --------------------------------------------------------------------- */

/* Calls fn for each (tid, payload) pair of one HGETALL reply. */
static int st_scan_one(const char *account, const redisReply *r,
                       jd_state_outbox_fn fn, void *opaque)
{
    int visited = 0;
    if (r->type != REDIS_REPLY_ARRAY)
        return 0;
    for (size_t k = 0; k + 1 < r->elements; k += 2) {
        const redisReply *tid = r->element[k], *pl = r->element[k + 1];
        if (tid->type != REDIS_REPLY_STRING || pl->type != REDIS_REPLY_STRING)
            continue;
        fn(account, tid->str, (const unsigned char *)pl->str, pl->len,
           opaque);
        visited++;
    }
    return visited;
}

int jd_state_outbox_scan(jd_state_t *st, jd_state_outbox_fn fn, void *opaque,
                         jd_err_t *err)
{
    redisReply *idx = NULL, *r = NULL;
    int rc, visited = 0;

    if ((rc = st_ensure(st, err)) != 0)
        return rc;
    st_push(st, "SMEMBERS");
    st_push(st, st_global_key(st, "outbox"));
    if (st_send(st) < 0)
        return st_oom_error(st, err, "smembers");
    if ((rc = st_roundtrip(st, &idx, 1, "smembers", err)) != 0)
        return rc;
    for (size_t i = 0; i < idx->elements; i++) {
        st_push(st, "HGETALL");
        st_push(st, st_key(st, idx->element[i]->str, "outbox"));
        if (st_send(st) < 0) {
            freeReplyObject(idx);
            return st_oom_error(st, err, "hgetall");
        }
    }
    /* read every reply, even after an error one, to keep the stream whole */
    for (size_t i = 0; i < idx->elements; i++) {
        if (st_read(st, &r, 1, err) != 0) {
            freeReplyObject(idx);
            return JD_ERR_RETRY;
        }
        if (r->type == REDIS_REPLY_ERROR && rc == 0)
            rc = st_reply_error(r, err, "hgetall");
        else if (rc == 0)
            visited += st_scan_one(idx->element[i]->str, r, fn, opaque);
        freeReplyObject(r);
    }
    freeReplyObject(idx);
    return rc ? rc : visited;
}

typedef struct st_ack_pair {
    const char *ap_account;
    const char *ap_tid;
} st_ack_pair_t;

static int st_ack_cmp(const void *a, const void *b)
{
    return strcmp(((const st_ack_pair_t *)a)->ap_account,
                  ((const st_ack_pair_t *)b)->ap_account);
}

/* Second half of an ack (the race at the top of this file): SREM the
 * accounts whose outbox looked empty, read their HLEN again *after* the
 * SREM, and SADD back those that gained entries meanwhile. */
static int st_ack_unindex(jd_state_t *st, const char **acc, size_t n,
                          jd_err_t *err)
{
    redisReply **r = calloc(n + 1, sizeof *r);
    size_t back = 0;
    int rc = 0;

    if (!r)
        return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM, "out of memory");
    st_push(st, "SREM");
    st_push(st, st_global_key(st, "outbox"));
    for (size_t i = 0; i < n; i++)
        st_push(st, acc[i]);
    rc = st_send(st) < 0 ? -1 : 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        st_push(st, "HLEN");
        st_push(st, st_key(st, acc[i], "outbox"));
        rc = st_send(st) < 0 ? -1 : 0;
    }
    if (rc < 0) {
        free(r);
        return st_oom_error(st, err, "ack");
    }
    if ((rc = st_roundtrip(st, r, n + 1, "ack srem", err)) == 0) {
        for (size_t i = 0; i < n; i++)
            if (st_reply_int(r[i + 1]) > 0)
                acc[back++] = acc[i]; /* refilled: index it again */
        st_free_replies(r, n + 1);
    }
    if (rc == 0 && back) {
        st_push(st, "SADD");
        st_push(st, st_global_key(st, "outbox"));
        for (size_t i = 0; i < back; i++)
            st_push(st, acc[i]);
        if (st_send(st) < 0)
            rc = st_oom_error(st, err, "ack");
        else if ((rc = st_roundtrip(st, r, 1, "ack sadd", err)) == 0)
            freeReplyObject(r[0]);
    }
    free(r);
    return rc;
}

/* HDEL + HLEN per account (pairs sorted by account); collects the accounts
 * whose outbox is now empty into empty[], their count into *n_empty. */
static int st_ack_delete(jd_state_t *st, const st_ack_pair_t *pairs, size_t n,
                         const char **empty, size_t *n_empty, jd_err_t *err)
{
    const char **group = malloc(n * sizeof *group);
    redisReply **r = calloc(2 * n, sizeof *r);
    size_t g = 0, i = 0;
    int rc = 0;

    *n_empty = 0;
    if (!group || !r) {
        free(group);
        free(r);
        return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM, "out of memory");
    }
    while (i < n && rc == 0) {
        group[g] = pairs[i].ap_account;
        st_push(st, "HDEL");
        st_push(st, st_key(st, group[g], "outbox"));
        for (; i < n && strcmp(pairs[i].ap_account, group[g]) == 0; i++)
            st_push(st, pairs[i].ap_tid);
        rc = st_send(st) < 0 ? -1 : 0;
        st_push(st, "HLEN");
        st_push(st, st_key(st, group[g++], "outbox"));
        rc = rc == 0 && st_send(st) < 0 ? -1 : rc;
    }
    if (rc < 0) {
        rc = st_oom_error(st, err, "ack");
    } else if ((rc = st_roundtrip(st, r, 2 * g, "ack hdel", err)) == 0) {
        for (size_t k = 0; k < g; k++)
            if (st_reply_int(r[2 * k + 1]) == 0)
                empty[(*n_empty)++] = group[k];
        st_free_replies(r, 2 * g);
    }
    free(group);
    free(r);
    return rc;
}

int jd_state_outbox_ack(jd_state_t *st, const char *const *accounts,
                        const char *const *trigger_ids, size_t n,
                        jd_err_t *err)
{
    st_ack_pair_t *pairs;
    const char **empty;
    size_t n_empty = 0;
    int rc;

    if (n == 0)
        return 0;
    if ((rc = st_ensure(st, err)) != 0)
        return rc;
    pairs = malloc(n * sizeof *pairs);
    empty = malloc(n * sizeof *empty);
    if (!pairs || !empty) {
        free(pairs);
        free(empty);
        return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        pairs[i].ap_account = accounts[i];
        pairs[i].ap_tid = trigger_ids[i];
    }
    qsort(pairs, n, sizeof *pairs, st_ack_cmp);
    rc = st_ack_delete(st, pairs, n, empty, &n_empty, err);
    if (rc == 0 && n_empty)
        rc = st_ack_unindex(st, empty, n_empty, err);
    free(pairs);
    free(empty);
    return rc;
}
