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
 * case (per node in a cluster): all commands are appended with
 * jd_redis_append, then the replies are read in order (st_pipeline).
 * jd_redis answers NOSCRIPT itself (SCRIPT LOAD on that node, re-send);
 * should one still come back, both scripts are reloaded and only the items
 * that failed are re-sent, once.
 *
 * Connection. Commands go through jd_redis (state/jd_redis.h), which
 * routes each one to the node serving its key's slot, one Redis or a Redis
 * Cluster alike; every command here has one key (scripts: one account's
 * keys, all in the account's slot), so nothing is ever cross-slot. Any I/O
 * error or timeout drops the connections (an output buffer may hold
 * half-sent commands, so it can never be reused) and returns
 * JD_ERR_RETRY; the next call reconnects and reloads the scripts. Redis
 * error replies leave the connection usable.
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
#include "jd_redis.h"
#include "jd_redis_auth.h"

#include <hiredis.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <xxhash.h>

#include "jd_arena.h"
#include "jd_window.h"

#include "apply_lua.h"
#include "commit_lua.h"

#define ST_SHA_LEN       40
#define ST_STATE_TXT_MAX 128
#define ST_TS_MAX        INT64_C(10000000000000) /* 10^13: 13-digit stamps */
#define ST_APPLY_KEYS    11
#define ST_APPLY_NKEYS   "11"    /* the same, as EVALSHA's numkeys */
#define ST_APPLY_REPLY   8
#define ST_NPS_DAYS      90      /* nps_avg_90d */
#define ST_CORE_MAX      1000
#define ST_DAY_MS        INT64_C(86400000)

/* apply.lua's activity masks hold REACH = 35 days */
_Static_assert(JD_WINDOW_MAX_DAYS == 35, "apply.lua REACH must match");

struct jd_state {
    char         *st_host;
    int           st_port;
    char         *st_unix_path;
    char         *st_prefix;
    char         *st_user;          /* AUTH user, or NULL */
    char         *st_password;      /* AUTH password, or NULL; wiped on free */
    int           st_timeout_ms;
    int           st_retention_days;
    char        **st_features;      /* value features */
    size_t        st_feature_cnt;
    char        **st_usage;         /* usage event types */
    size_t        st_usage_cnt;
    char        **st_core;          /* core features */
    size_t        st_core_cnt;
    int64_t       st_idle_ms;
    jd_signals_conf_t st_signals;
    jd_window_spec_t  st_specs[JD_W__COUNT];
    char          st_spec_arg[JD_W__COUNT * 24]; /* the specs as apply.lua
                                                    reads them, built once */
    jd_redis_t   *st_rd;            /* the node(s); see jd_redis.h */
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
    static const char *const usage[] = {"feature_used", "login"};

    memset(sc, 0, sizeof *sc);
    sc->sc_host = "127.0.0.1";
    sc->sc_port = 6379;
    sc->sc_prefix = "jd";
    sc->sc_timeout_ms = 2000;
    sc->sc_retention_days = 35;
    sc->sc_usage_events = usage;
    sc->sc_usage_event_cnt = 2;
    sc->sc_power_user_days = 8;
    sc->sc_idle_expiry_ms = 35 * ST_DAY_MS;
    jd_signals_conf_default(&sc->sc_signals);
}

const jd_signals_conf_t *jd_state_signals_conf(const jd_state_t *st)
{
    return &st->st_signals;
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

/* Pushes "<prefix>:{T}:<what[i]>" for i < n, computing the tag once. */
static void st_push_keys(jd_state_t *st, const char *account,
                         const char *const *what, size_t n)
{
    size_t plen = strlen(st->st_prefix);
    size_t tag_len = jd_state_key_tag(account, NULL, 0);
    char *base = jd_arena_alloc(&st->st_arena, plen + tag_len + 5);

    if (!base) {
        st->st_oom = 1;
        return;
    }
    memcpy(base, st->st_prefix, plen);
    memcpy(base + plen, ":{", 2);
    jd_state_key_tag(account, base + plen + 2, tag_len + 1);
    memcpy(base + plen + 2 + tag_len, "}:", 3);
    size_t blen = plen + tag_len + 4;
    for (size_t i = 0; i < n; i++) {
        size_t wlen = strlen(what[i]);
        char *key = jd_arena_alloc(&st->st_arena, blen + wlen + 1);
        if (!key) {
            st->st_oom = 1;
            return;
        }
        memcpy(key, base, blen);
        memcpy(key + blen, what[i], wlen + 1);
        st_push_mem(st, key, blen + wlen);
    }
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

/* Drops the command built so far (nothing is sent). */
static void st_drop(jd_state_t *st)
{
    st->st_argc = 0;
    st->st_oom = 0;
    jd_arena_reset(&st->st_arena);
}

/* Appends the command built so far to the pipeline (to the k-th master
 * when k >= 0: keyless commands) and starts a new one. Returns 1 (one
 * command appended) or -1 (out of memory). */
static int st_send_to(jd_state_t *st, int k)
{
    int rc = -1;
    if (!st->st_oom &&
        (k < 0 ? jd_redis_append(st->st_rd, (int)st->st_argc, st->st_argv,
                                 st->st_argvlen)
               : jd_redis_append_to(st->st_rd, k, (int)st->st_argc,
                                    st->st_argv, st->st_argvlen)) == 0)
        rc = 1;
    st_drop(st);
    return rc;
}

static int st_send(jd_state_t *st)
{
    return st_send_to(st, -1);
}

/* ---- Connection ---------------------------------------------------------- */

static void st_disconnect(jd_state_t *st)
{
    if (st->st_rd)
        jd_redis_disconnect(st->st_rd);
    st_drop(st);
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
    if (jd_redis_is_noauth(r->str, r->len)) /* a configuration error, not an outage */
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "redis %s: %.*s: set redis.password (or redis.password_file, or "
                          "JOURNEYD_REDIS_PASSWORD)", what, (int)r->len, r->str);
    return jd_err_set(err, JD_ERR_RETRY, JD_E_REDIS, "redis %s: %.*s", what,
                      (int)r->len, r->str ? r->str : "");
}

/* Reads n replies; on an I/O error frees what it read and disconnects. */
static int st_read(jd_state_t *st, redisReply **replies, size_t n,
                   jd_err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (jd_redis_read(st->st_rd, &r, err) != 0) {
            for (size_t j = 0; j < i; j++) {
                freeReplyObject(replies[j]);
                replies[j] = NULL;
            }
            st_disconnect(st);
            return JD_ERR_RETRY;
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
    int rc = jd_redis_connect(st->st_rd, err);
    return rc ? rc : st_load_scripts(st, err);
}

static int st_ensure(jd_state_t *st, jd_err_t *err)
{
    return jd_redis_connected(st->st_rd) ? 0 : st_connect(st, err);
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
    if (sc->sc_power_user_days < 1 || sc->sc_power_user_days > 28)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "power_user_days must be in [1, 28], not %d",
                          sc->sc_power_user_days);
    if (sc->sc_idle_expiry_ms < 0 || sc->sc_core_feature_cnt > ST_CORE_MAX)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "idle expiry must be >= 0 and core features at most %d",
                          ST_CORE_MAX);
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

/* "K:first:last:param,..." for every window spec: one argument, formatted
 * once (apply.lua splits it). */
static void st_format_specs(jd_state_t *st)
{
    size_t n = 0, cap = sizeof st->st_spec_arg;
    for (int w = 0; w < JD_W__COUNT && n < cap; w++) {
        const jd_window_spec_t *ws = &st->st_specs[w];
        n += (size_t)snprintf(st->st_spec_arg + n, cap - n, "%s%c:%d:%d:%d",
                              w ? "," : "", (char)ws->ws_kind, ws->ws_back_first,
                              ws->ws_back_last, ws->ws_param);
    }
}

/* Copies a list of n strings into *out (NULL entries become ""). */
static int st_copy_list(char ***out, size_t *cnt, const char *const *list,
                        size_t n)
{
    *cnt = 0;
    if (!n)
        return 0;
    if (!(*out = calloc(n, sizeof(char *))))
        return -1;
    *cnt = n;
    for (size_t i = 0; i < n; i++)
        if (!((*out)[i] = strdup(list[i] ? list[i] : "")))
            return -1;
    return 0;
}

static void st_free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

static int st_copy_conf(jd_state_t *st, const jd_state_conf_t *sc)
{
    st->st_host = st_strdup(sc->sc_host);
    st->st_port = sc->sc_port;
    st->st_unix_path = st_strdup(sc->sc_unix_path);
    st->st_prefix = st_strdup(sc->sc_prefix);
    st->st_timeout_ms = sc->sc_timeout_ms;
    st->st_retention_days = sc->sc_retention_days;
    st->st_user = sc->sc_user && *sc->sc_user ? st_strdup(sc->sc_user) : NULL;
    st->st_password = sc->sc_password && *sc->sc_password ? st_strdup(sc->sc_password) : NULL;
    if ((sc->sc_host && !st->st_host) || (sc->sc_unix_path &&
        !st->st_unix_path) || !st->st_prefix ||
        (sc->sc_user && *sc->sc_user && !st->st_user) ||
        (sc->sc_password && *sc->sc_password && !st->st_password))
        return -1;
    st->st_idle_ms = sc->sc_idle_expiry_ms;
    st->st_signals = sc->sc_signals;
    st->st_signals.sgc_core_feature_cnt = sc->sc_core_feature_cnt;
    jd_signals_windows(sc->sc_power_user_days, st->st_specs);
    if (!sc->sc_core_feature_cnt) /* known empty: apply.lua reads nothing */
        st->st_specs[JD_W_CORE_FEATURES_28D].ws_param = -1;
    st_format_specs(st);
    return st_copy_list(&st->st_features, &st->st_feature_cnt,
                        sc->sc_value_features, sc->sc_value_feature_cnt) ||
           st_copy_list(&st->st_usage, &st->st_usage_cnt, sc->sc_usage_events,
                        sc->sc_usage_event_cnt) ||
           st_copy_list(&st->st_core, &st->st_core_cnt, sc->sc_core_features,
                        sc->sc_core_feature_cnt) ? -1 : 0;
}

static jd_redis_t *st_redis_new(const jd_state_t *st, const jd_state_conf_t *sc,
                                jd_err_t *err)
{
    jd_redis_conf_t rc = {st->st_host, st->st_port, st->st_unix_path,
                          sc->sc_seeds, st->st_user, st->st_password,
                          st->st_timeout_ms, sc->sc_cluster};
    return jd_redis_new(&rc, err);
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
    if (sc->sc_password_file && *sc->sc_password_file && !st->st_password &&
        !(st->st_password = jd_redis_password_file("redis.password_file",
                                                    sc->sc_password_file, err))) {
        jd_state_destroy(st);
        return NULL;
    }
    if (!(st->st_rd = st_redis_new(st, sc, err)) || st_connect(st, err) != 0) {
        jd_state_destroy(st);
        return NULL;
    }
    return st;
}

void jd_state_destroy(jd_state_t *st)
{
    if (!st)
        return;
    jd_redis_destroy(st->st_rd);
    jd_arena_destroy(&st->st_arena);
    st_free_list(st->st_features, st->st_feature_cnt);
    st_free_list(st->st_usage, st->st_usage_cnt);
    st_free_list(st->st_core, st->st_core_cnt);
    free(st->st_host);
    free(st->st_unix_path);
    free(st->st_prefix);
    free(st->st_user);
    jd_redis_secret_free(st->st_password);
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
        if ((rc = st_index_reply(st, rc, err)) == JD_ERR_RETRY && !jd_redis_connected(st->st_rd))
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
        if ((rc = st_index_reply(st, rc, err)) == JD_ERR_RETRY && !jd_redis_connected(st->st_rd))
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
        if (!jd_redis_connected(st->st_rd) || !again)
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
    int64_t             ac_at;        /* read at this instant, or NO_TS */
    int64_t             ac_state_as_of; /* out (inspect): the stored T */
} st_apply_ctx_t;

/* Index of s in list[0..n), or -1. */
static int st_find(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(list[i], s) == 0)
            return (int)i;
    return -1;
}

/* The type name an event is matched on: the canonical name of a
 * well-known type, else the type as sent. */
static const char *st_type_name(const jd_event_t *ev)
{
    return ev->ev_type != JD_EV_UNKNOWN ? jd_event_type_name(ev->ev_type)
                                        : ev->ev_type_name;
}

static int st_is_usage(const jd_state_t *st, const jd_event_t *ev)
{
    return st_find(st->st_usage, st->st_usage_cnt, st_type_name(ev)) >= 0;
}

/* severity of a case counted by sev1_open */
static int st_is_sev1(const char *sev)
{
    return sev && (strcasecmp(sev, "sev1") == 0 || strcmp(sev, "1") == 0 ||
                   strcasecmp(sev, "critical") == 0);
}

/* A score inside [lo, hi], or NaN when absent or out of range. */
static double st_score(const jd_event_t *ev, double lo, double hi)
{
    return ev->ev_has_value && ev->ev_value >= lo && ev->ev_value <= hi
               ? ev->ev_value : NAN;
}

/* The flags apply.lua acts on (see its header): the meaning of an event is
 * decided here, not in Lua. */
static void st_event_flags(const jd_state_t *st, const jd_event_t *ev,
                           char *f)
{
    jd_event_type_t t = ev->ev_type;
    int case_ev = (t == JD_EV_CASE_OPENED || t == JD_EV_CASE_CLOSED) &&
                  jd_event_attr(ev, "case_id");

    if (st_is_usage(st, ev)) *f++ = 'u';
    if (t == JD_EV_ACCOUNT_CREATED || t == JD_EV_CONTRACT_SIGNED) *f++ = 's';
    if (t == JD_EV_KICKOFF) *f++ = 'k';
    if (t == JD_EV_GO_LIVE) *f++ = 'g';
    if (t == JD_EV_FIRST_VALUE || (t == JD_EV_FEATURE_USED &&
        st_find(st->st_features, st->st_feature_cnt, ev->ev_feature) >= 0))
        *f++ = 'v';
    if (t == JD_EV_VALUE_REALIZED) *f++ = 'r';
    if (t == JD_EV_SPONSOR_CHANGED) *f++ = 'p';
    if (case_ev) *f++ = t == JD_EV_CASE_OPENED ? 'o' : 'c';
    if (case_ev && t == JD_EV_CASE_OPENED &&
        st_is_sev1(jd_event_attr(ev, "severity")))
        *f++ = '1';
    if (t == JD_EV_NPS_RESPONSE && !isnan(st_score(ev, 0, 10))) *f++ = 'n';
    *f = '\0';
}

static void st_push_hash(jd_state_t *st, const char *s)
{
    st_push_i64(st, "%lld", (int64_t)XXH3_64bits(s, strlen(s)));
}

static void st_push_double(jd_state_t *st, double v)
{
    char *s = jd_arena_alloc(&st->st_arena, 32);
    if (!s) {
        st->st_oom = 1;
        return;
    }
    snprintf(s, 32, "%.17g", v);
    st_push(st, s);
}

/* Pushes the last-writer-wins (name, value) pairs of an event with their
 * count in front: the account_updated attributes that feed signals (bad
 * values are left out, so they never win), nps_last, csat_last. Returns
 * the count. */
static size_t st_push_lww(jd_state_t *st, const jd_event_t *ev)
{
    size_t count_at = st->st_argc, n = 0;
    double nps = ev->ev_type == JD_EV_NPS_RESPONSE ? st_score(ev, 0, 10) : NAN;
    double csat = ev->ev_type == JD_EV_CSAT_RESPONSE ? st_score(ev, 1, 5) : NAN;

    st_push(st, "0"); /* replaced below */
    for (size_t i = 0; ev->ev_type == JD_EV_ACCOUNT_UPDATED &&
                       i < ev->ev_attr_cnt; i++) {
        const jd_attr_t *at = &ev->ev_attrs[i];
        char *buf = jd_arena_alloc(&st->st_arena, 32);
        const char *val;
        if (!buf) {
            st->st_oom = 1;
            return 0;
        }
        if (jd_signals_attr_normalize(at->at_key, at->at_val, &val, buf,
                                      32) == 1) {
            st_push(st, at->at_key);
            st_push(st, val);
            n++;
        }
    }
    if (!isnan(nps)) {
        st_push(st, "nps_last");
        st_push_double(st, nps);
        n++;
    }
    if (!isnan(csat)) {
        st_push(st, "csat_last");
        st_push_double(st, csat);
        n++;
    }
    if (n)
        st_set_i64(st, count_at, (int64_t)n);
    return n;
}

static int st_event_ok(const jd_event_t *ev)
{
    return ev && ev->ev_id && *ev->ev_id && ev->ev_occurred_at >= 0 &&
           ev->ev_occurred_at < ST_TS_MAX;
}

/* The 10 fixed fields and the LWW pairs of one event (apply.lua's ARGV).
 * The event_id itself (for stamps) is filled in after the pairs are known,
 * only when the event writes a last-writer-wins value. */
static void st_push_event(jd_state_t *st, const jd_event_t *ev)
{
    char *flags = jd_arena_alloc(&st->st_arena, 16); /* argv keeps a pointer */
    const char *case_id = jd_event_attr(ev, "case_id");
    int core = st_find(st->st_core, st->st_core_cnt, ev->ev_feature);
    size_t eid_at;

    if (!flags) {
        st->st_oom = 1;
        return;
    }
    st_event_flags(st, ev, flags);
    st_push_hash(st, ev->ev_id);
    st_push_i64(st, "%lld", jd_window_day(ev->ev_occurred_at));
    st_push_i64(st, "%013lld", ev->ev_occurred_at);
    st_push(st, flags);
    if (strchr(flags, 'u') && ev->ev_user && *ev->ev_user)
        st_push_hash(st, ev->ev_user);
    else
        st_push(st, "");
    if (strchr(flags, 'u') && core >= 0)
        st_push_i64(st, "%lld", core);
    else
        st_push(st, "");
    st_push(st, strpbrk(flags, "oc") ? case_id : "");
    if (strchr(flags, 'n'))
        st_push_double(st, ev->ev_value);
    else
        st_push(st, "");
    eid_at = st->st_argc;
    st_push(st, "");
    if ((st_push_lww(st, ev) || strpbrk(flags, "oc")) && eid_at < st->st_argc) {
        st->st_argv[eid_at] = ev->ev_id;
        st->st_argvlen[eid_at] = strlen(ev->ev_id);
    }
}

/* EVALSHA apply 11 KEYS... R H E at at_day specs K rule_ids... N
 * events... */
static int st_apply_item(jd_state_t *st, size_t i, void *vctx)
{
    static const char *const what[ST_APPLY_KEYS] = {
        "", "meta", "attr", "attr_ts", "days", "rules", "nps", "cases",
        "users", "feats", "copen"};
    st_apply_ctx_t *ac = vctx;
    jd_account_batch_t *ab = &ac->ac_abs[i];
    size_t count_at;

    st_push(st, "EVALSHA");
    st_push(st, st->st_apply_sha);
    st_push(st, ST_APPLY_NKEYS);
    st_push_keys(st, ab->ab_account, what, ST_APPLY_KEYS);
    st_push_i64(st, "%lld", st->st_retention_days);
    st_push_i64(st, "%lld", ST_NPS_DAYS);
    st_push_i64(st, "%lld", st->st_idle_ms);
    if (ac->ac_at != JD_SIGNALS_NO_TS) {
        st_push_i64(st, "%lld", ac->ac_at);
        st_push_i64(st, "%lld", jd_window_day(ac->ac_at));
    } else {
        st_push(st, "");
        st_push(st, "");
    }
    st_push(st, st->st_spec_arg);
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
        st_drop(st); /* a SADD with no member */
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

/* Calls set(raw, name, value) for each string pair of a flat array. */
static void st_reply_pairs(const redisReply *a, jd_signals_raw_t *raw,
                           int (*set)(jd_signals_raw_t *, const char *,
                                      const char *))
{
    for (size_t i = 0; i + 1 < a->elements; i += 2)
        if (a->element[i]->type == REDIS_REPLY_STRING &&
            a->element[i + 1]->type == REDIS_REPLY_STRING)
            set(raw, a->element[i]->str, a->element[i + 1]->str);
}

static int st_apply_shape_ok(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != ST_APPLY_REPLY)
        return 0;
    for (size_t i = 2; i < ST_APPLY_REPLY; i++)
        if (r->element[i]->type != REDIS_REPLY_ARRAY)
            return 0;
    return r->element[2]->elements == 3 && r->element[4]->elements == 2 &&
           (r->element[3]->elements == JD_W__COUNT ||
            r->element[0]->type != REDIS_REPLY_INTEGER);
}

/* Fills raw from an apply reply; the strings stay in the reply. */
static int st_apply_raw(const redisReply *r, jd_signals_raw_t *raw,
                        jd_err_t *err)
{
    if (!st_apply_shape_ok(r))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_INTERNAL,
                          "apply.lua: unexpected reply shape");
    jd_signals_raw_init(raw);
    raw->sr_as_of = st_reply_ts(r->element[0]);
    for (size_t w = 0; w < r->element[3]->elements && w < JD_W__COUNT; w++)
        raw->sr_win[w] = st_reply_int(r->element[3]->element[w]);
    const redisReply *nps = r->element[4];
    raw->sr_nps_count = st_reply_int(nps->element[0]);
    if (nps->element[1]->type == REDIS_REPLY_STRING)
        raw->sr_nps_sum = strtod(nps->element[1]->str, NULL);
    st_reply_pairs(r->element[5], raw, jd_signals_raw_set_meta);
    st_reply_pairs(r->element[6], raw, jd_signals_raw_set_attr);
    return 0;
}

/* A decimal meta field of a reply (JD_SIGNALS_NO_TS when absent). */
static int64_t st_reply_meta_i64(const redisReply *r, const char *name)
{
    const redisReply *m = r->element[5];
    for (size_t i = 0; i + 1 < m->elements; i += 2)
        if (m->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(m->element[i]->str, name) == 0 &&
            m->element[i + 1]->type == REDIS_REPLY_STRING)
            return strtoll(m->element[i + 1]->str, NULL, 10);
    return JD_SIGNALS_NO_TS;
}

static int st_apply_reply(jd_state_t *st, size_t i, const redisReply *r,
                          void *vctx, jd_err_t *err)
{
    st_apply_ctx_t *ac = vctx;
    jd_account_batch_t *ab = &ac->ac_abs[i];
    jd_signals_raw_t raw;
    int rc;

    if ((rc = st_apply_raw(r, &raw, err)) != 0)
        return rc;
    jd_signals_derive(&ab->ab_signals, &raw, &st->st_signals);
    ac->ac_state_as_of = st_reply_meta_i64(r, "as_of");
    ab->ab_rules_at = st_reply_meta_i64(r, "rules_at");
    ab->ab_timer_at = st_reply_meta_i64(r, "timer_at");
    ab->ab_claim = st_reply_meta_i64(r, "claim"); /* "<n>|<token>": n */
    if (ab->ab_claim == JD_SIGNALS_NO_TS)
        ab->ab_claim = 0;
    const redisReply *counts = r->element[2];
    ab->ab_applied = st_reply_count(counts->element[0]);
    ab->ab_duplicates = st_reply_count(counts->element[1]);
    ab->ab_late_dropped = st_reply_count(counts->element[2]);
    const redisReply *states = r->element[7];
    for (size_t k = 0; k < ac->ac_rule_cnt; k++) {
        const redisReply *s = k < states->elements ? states->element[k] : NULL;
        /* malformed text parses as the initial state (contract) */
        jd_rule_state_parse(s && s->type == REDIS_REPLY_STRING ? s->str : NULL,
                            &ab->ab_rule_states[k]);
    }
    return 0;
}

/* Clears the outputs of a batch before a read. */
static void st_batch_reset(jd_account_batch_t *abs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        abs[i].ab_applied = abs[i].ab_duplicates = 0;
        abs[i].ab_late_dropped = abs[i].ab_rejected = 0;
        abs[i].ab_rules_at = abs[i].ab_timer_at = JD_SIGNALS_NO_TS;
        abs[i].ab_claim = 0;
        jd_signals_clear(&abs[i].ab_signals);
    }
}

int jd_state_apply(jd_state_t *st, jd_account_batch_t *abs, size_t n,
                   const char *const *rule_ids, size_t rule_cnt,
                   jd_err_t *err)
{
    st_apply_ctx_t ac = {abs, n, rule_ids, rule_cnt, 1, JD_SIGNALS_NO_TS,
                         JD_SIGNALS_NO_TS};
    st_ops_t ops = {n, st_apply_item, st_apply_reply, st_apply_index, &ac};

    st_batch_reset(abs, n);
    if (n == 0)
        return 0;
    return st_pipeline(st, &ops, err);
}

int jd_state_inspect_at(jd_state_t *st, const char *account, int64_t at_ms,
                        jd_signals_t *sg, jd_state_inspect_info_t *info,
                        jd_err_t *err)
{
    jd_account_batch_t ab;
    st_apply_ctx_t ac = {&ab, 1, NULL, 0, 0, at_ms, JD_SIGNALS_NO_TS};
    st_ops_t ops = {1, st_apply_item, st_apply_reply, NULL, &ac};
    int rc;

    memset(&ab, 0, sizeof ab);
    ab.ab_account = account;
    jd_signals_clear(sg);
    if ((rc = st_pipeline(st, &ops, err)) != 0)
        return rc;
    jd_signals_copy(sg, &ab.ab_signals);
    if (info) {
        int64_t T = ac.ac_state_as_of;
        int64_t D = jd_window_day(T), at_day = jd_window_day(at_ms);
        info->si_state_as_of = T;
        /* activity masks hold the 35 days up to each member's latest
         * day (<= D): every window day is known from D on, not before */
        info->si_windows_complete =
            at_ms == JD_SIGNALS_NO_TS || T == JD_SIGNALS_NO_TS || at_day >= D;
    }
    if (ac.ac_state_as_of == JD_SIGNALS_NO_TS)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_MISSING_FIELD,
                          "account '%s' has no state",
                          account ? account : "");
    return 0;
}

/* Same script, zero events, no index update: reads only. */
int jd_state_inspect(jd_state_t *st, const char *account, jd_signals_t *sg,
                     jd_err_t *err)
{
    return jd_state_inspect_at(st, account, JD_SIGNALS_NO_TS, sg, NULL, err);
}

/* ---- commit ----------------------------------------------------------------- */

typedef struct st_commit_ctx {
    const jd_state_commit_t *cc_cms;
    size_t                   cc_n;
    unsigned char           *cc_conflicts; /* or NULL: a conflict is an error */
} st_commit_ctx_t;

/* The meta writes of a journey change: HSET pairs (stage fields) and
 * HSETNX pairs (healthy_adoption_at, first time seen wins). Pushes the
 * two counts at m_at and x_at (placeholders) and the pairs. */
static void st_push_change(jd_state_t *st, const jd_signals_change_t *ch,
                           size_t m_at, size_t x_at)
{
    size_t m = 0;

    if (ch && ch->ch_stage) {
        st_push(st, "stage");
        st_push(st, ch->ch_stage_name);
        st_push(st, "stage_changed_at");
        st_push_i64(st, "%lld", ch->ch_at);
        st_push(st, "stage_seq");
        st_push_i64(st, "%lld", ch->ch_seq);
        m = 3;
        if (ch->ch_previous) {
            st_push(st, "previous_stage");
            st_push(st, ch->ch_previous);
            m++;
        }
        st_set_i64(st, m_at, (int64_t)m);
    }
    if (ch && ch->ch_healthy_adoption) {
        st_push(st, "healthy_adoption_at");
        st_push_i64(st, "%lld", ch->ch_at);
        st_set_i64(st, x_at, 1);
    }
}

static int st_change_writes(const jd_signals_change_t *ch)
{
    return ch && (ch->ch_stage || ch->ch_healthy_adoption);
}

/* Sets argument `at` (a placeholder) to the commit's token: XXH3 of
 * every argument after it, each with its length, in hex. */
static void st_set_token(jd_state_t *st, size_t at)
{
    XXH3_state_t *h = XXH3_createState();
    char *s = jd_arena_alloc(&st->st_arena, 17);

    if (!h || !s || at >= st->st_argc) {
        XXH3_freeState(h);
        st->st_oom = 1;
        return;
    }
    XXH3_64bits_reset(h);
    for (size_t k = at + 1; k < st->st_argc; k++) {
        uint64_t len = st->st_argvlen[k];
        XXH3_64bits_update(h, &len, sizeof len);
        XXH3_64bits_update(h, st->st_argv[k], st->st_argvlen[k]);
    }
    snprintf(s, 17, "%016llx", (unsigned long long)XXH3_64bits_digest(h));
    XXH3_freeState(h);
    st->st_argv[at] = s;
    st->st_argvlen[at] = 16;
}

/* EVALSHA commit 3 rules outbox meta S M X E token (rule_id state)...
 * (meta pairs)... (outbox id payload)... */
static int st_commit_item(jd_state_t *st, size_t i, void *vctx)
{
    const jd_state_commit_t *cm = &((st_commit_ctx_t *)vctx)->cc_cms[i];
    size_t m_at, tok_at;

    if (cm->cm_rule_cnt == 0 && cm->cm_trigger_cnt == 0 &&
        !st_change_writes(cm->cm_change))
        return 0;
    st_push(st, "EVALSHA");
    st_push(st, st->st_commit_sha);
    st_push(st, "3");
    st_push(st, st_key(st, cm->cm_account, "rules"));
    st_push(st, st_key(st, cm->cm_account, "outbox"));
    st_push(st, st_key(st, cm->cm_account, "meta"));
    st_push_i64(st, "%lld", (int64_t)cm->cm_rule_cnt);
    m_at = st->st_argc;
    st_push(st, "0");
    st_push(st, "0");
    if (cm->cm_claim < 0)
        st_push(st, "");
    else
        st_push_i64(st, "%lld", cm->cm_claim);
    tok_at = st->st_argc;
    st_push(st, "");
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
    st_push_change(st, cm->cm_change, m_at, m_at + 1);
    for (size_t k = 0; k < cm->cm_trigger_cnt; k++) {
        st_push(st, cm->cm_trigger_ids[k]);
        st_push_mem(st, (const char *)cm->cm_payloads[k],
                    cm->cm_payload_lens[k]);
    }
    st_set_token(st, tok_at);
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
        st_drop(st); /* a SADD with no member */
        return 0;
    }
    return st_send(st);
}

static int st_commit_reply(jd_state_t *st, size_t i, const redisReply *r,
                           void *vctx, jd_err_t *err)
{
    st_commit_ctx_t *cc = vctx;

    (void)st;
    if (r->type != REDIS_REPLY_INTEGER)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_INTERNAL,
                          "commit.lua: unexpected reply");
    if (r->integer >= 0)
        return 0;
    if (!cc->cc_conflicts)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_INTERNAL,
                          "commit of account '%s' lost its claim: another "
                          "writer committed it meanwhile",
                          cc->cc_cms[i].cm_account);
    cc->cc_conflicts[i] = 1;
    return 0;
}

int jd_state_commit(jd_state_t *st, const jd_state_commit_t *cms, size_t n,
                    unsigned char *conflicts, jd_err_t *err)
{
    st_commit_ctx_t cc = {cms, n, conflicts};
    st_ops_t ops = {n, st_commit_item, st_commit_reply, st_commit_index, &cc};
    size_t work = 0;

    if (conflicts)
        memset(conflicts, 0, n);
    for (size_t i = 0; i < n; i++)
        work += cms[i].cm_rule_cnt + cms[i].cm_trigger_cnt +
                (size_t)st_change_writes(cms[i].cm_change);
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

int jd_state_accounts(jd_state_t *st, jd_state_account_fn fn, void *opaque,
                      jd_err_t *err)
{
    char cursor[32] = "0";
    int rc, visited = 0;

    if ((rc = st_ensure(st, err)) != 0)
        return rc;
    do {
        redisReply *r = NULL;
        st_push(st, "SSCAN");
        st_push(st, st_global_key(st, "accounts"));
        st_push(st, cursor);
        st_push(st, "COUNT");
        st_push(st, "1000");
        if (st_send(st) < 0)
            return st_oom_error(st, err, "sscan");
        if ((rc = st_roundtrip(st, &r, 1, "sscan", err)) != 0)
            return rc;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            return jd_err_set(err, JD_ERR_RETRY, JD_E_REDIS,
                              "redis sscan: unexpected reply");
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++, visited++)
            fn(r->element[1]->element[i]->str, opaque);
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return visited;
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

/* ---- timers ------------------------------------------------------------------
 * The next-deadline indexes: <prefix>:timers:TOPIC:PARTITION, one sorted
 * set per input partition (the one the account's events came from), of
 * account ids scored by the event time (ms) at which each must be
 * evaluated again (rules/jd_rules.h jd_rules_next_deadline). Each is a
 * global key like <prefix>:accounts (its own slot), so an instance reads
 * only the indexes of the partitions it owns; each account's deadline is also in
 * its hash-tagged meta hash (field timer_at, 0 for none), with rules_at,
 * the event time its rules were last decided at, so the index can be
 * rebuilt from the accounts. Writes are idempotent. */

int jd_state_read_at(jd_state_t *st, jd_account_batch_t *abs, size_t n,
                     int64_t at_ms, const char *const *rule_ids,
                     size_t rule_cnt, jd_err_t *err)
{
    st_apply_ctx_t ac = {abs, n, rule_ids, rule_cnt, 0, at_ms,
                         JD_SIGNALS_NO_TS};
    st_ops_t ops = {n, st_apply_item, st_apply_reply, NULL, &ac};

    st_batch_reset(abs, n);
    return n ? st_pipeline(st, &ops, err) : 0;
}

/* Queues the writes of account i; returns how many commands (0-2), or -1
 * when out of memory. */
static int st_timer_push(jd_state_t *st, const char *account, const char *index,
                         int64_t deadline, int64_t prev, int64_t rules_at)
{
    int none = deadline == INT64_MAX, cmds = 0;
    int64_t stored = none ? 0 : deadline;

    if (prev == JD_SIGNALS_NO_TS || prev != stored) {
        st_push(st, none ? "ZREM" : "ZADD");
        st_push(st, st_global_key(st, index));
        if (!none)
            st_push_i64(st, "%lld", deadline);
        st_push(st, account);
        if (st_send(st) < 0)
            return -1;
        cmds++;
    }
    if (cmds || rules_at >= 0) {
        st_push(st, "HSET");
        st_push(st, st_key(st, account, "meta"));
        st_push(st, "timer_at");
        st_push_i64(st, "%lld", stored);
        if (rules_at >= 0) {
            st_push(st, "rules_at");
            st_push_i64(st, "%lld", rules_at);
        }
        if (st_send(st) < 0)
            return -1;
        cmds++;
    }
    return cmds;
}

int jd_state_timers_set(jd_state_t *st, const char *const *accounts,
                        const char *const *indexes, const int64_t *deadlines,
                        const int64_t *prev, const int64_t *rules_at, size_t n,
                        jd_err_t *err)
{
    redisReply **r;
    size_t cmds = 0;
    int rc;

    if (n == 0)
        return 0;
    if ((rc = st_ensure(st, err)) != 0)
        return rc;
    if (!(r = calloc(2 * n, sizeof *r)))
        return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        int c = st_timer_push(st, accounts[i], indexes[i], deadlines[i],
                              prev ? prev[i] : JD_SIGNALS_NO_TS, rules_at[i]);
        if (c < 0) {
            free(r);
            return st_oom_error(st, err, "timers");
        }
        cmds += (size_t)c;
    }
    rc = cmds ? st_roundtrip(st, r, cmds, "timers", err) : 0;
    if (rc == 0)
        st_free_replies(r, cmds);
    free(r);
    return rc;
}

int jd_state_timers_due(jd_state_t *st, const char *index, int64_t upto, size_t max,
                        jd_state_timer_fn fn, void *opaque, jd_err_t *err)
{
    redisReply *r = NULL;
    int rc, n = 0;

    if ((rc = st_ensure(st, err)) != 0)
        return rc;
    st_push(st, "ZRANGEBYSCORE");
    st_push(st, st_global_key(st, index));
    st_push(st, "-inf");
    st_push_i64(st, "%lld", upto);
    st_push(st, "WITHSCORES");
    st_push(st, "LIMIT");
    st_push(st, "0");
    st_push_i64(st, "%lld", (int64_t)max);
    if (st_send(st) < 0)
        return st_oom_error(st, err, "timers");
    if ((rc = st_roundtrip(st, &r, 1, "timers", err)) != 0)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
        freeReplyObject(r);
        return jd_err_set(err, JD_ERR_RETRY, JD_E_REDIS,
                          "redis timers: unexpected reply");
    }
    for (size_t i = 0; i + 1 < r->elements; i += 2, n++)
        fn(r->element[i]->str, strtoll(r->element[i + 1]->str, NULL, 10),
           opaque);
    freeReplyObject(r);
    return n;
}

/* ---- decision cut logs ----------------------------------------------------- */

/* "<prefix>:cuts:<part>" */
static const char *st_cuts_key(jd_state_t *st, const char *part)
{
    char name[320];
    snprintf(name, sizeof name, "cuts:%s", part);
    return st_global_key(st, name);
}

/* One field of "POSITION:CLOCK:WATERMARK" ("n": none), advancing *p. */
static int64_t st_cut_field(const char **p)
{
    const char *s = *p, *colon = strchr(s, ':');
    int64_t v = *s && *s != 'n' ? strtoll(s, NULL, 10) : INT64_MIN;
    *p = colon ? colon + 1 : s + strlen(s);
    return v;
}

static void st_cut_parse(const char *s, jd_state_cut_t *c)
{
    c->cu_position = st_cut_field(&s);
    c->cu_clock = st_cut_field(&s);
    c->cu_watermark = st_cut_field(&s);
}

/* One pipelined round trip of k commands per partition: push(st, i, ctx)
 * queues partition i's (st_send's result), then read(&replies[k * i], i,
 * ctx), when not NULL, takes its replies (-1: out of memory). */
typedef int (*st_part_push_fn)(jd_state_t *st, size_t i, void *ctx);
typedef int (*st_part_read_fn)(redisReply **r, size_t i, void *ctx);

static int st_per_part(jd_state_t *st, size_t n, size_t k, st_part_push_fn push,
                       st_part_read_fn read, void *ctx, jd_err_t *err)
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
        if (push(st, i, ctx) < 0)
            rc = st_oom_error(st, err, "cuts");
    if (!rc && (rc = st_roundtrip(st, r, k * n, "cuts", err)) == 0) {
        for (size_t i = 0; i < n && !rc && read; i++)
            if (read(&r[k * i], i, ctx))
                rc = jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM, "out of memory");
        st_free_replies(r, k * n);
    }
    free(r);
    return rc;
}

/* Loading: the last cut at or before pt_from, the cuts from it on, the
 * earliest deadline, the completed position. */
static int st_cuts_push_load(jd_state_t *st, size_t i, void *ctx)
{
    const jd_state_part_t *pt = &((const jd_state_part_t *)ctx)[i];
    char idx[320];
    st_push(st, "ZREVRANGEBYSCORE");
    st_push(st, st_cuts_key(st, pt->pt_name));
    st_push_i64(st, "%lld", pt->pt_from);
    st_push(st, "-inf");
    st_push(st, "LIMIT");
    st_push(st, "0");
    st_push(st, "1");
    if (st_send(st) < 0)
        return -1;
    st_push(st, "ZRANGEBYSCORE");
    st_push(st, st_cuts_key(st, pt->pt_name));
    st_push_i64(st, "%lld", pt->pt_from);
    st_push(st, "+inf");
    if (st_send(st) < 0)
        return -1;
    snprintf(idx, sizeof idx, "timers:%s", pt->pt_name);
    st_push(st, "ZRANGE");
    st_push(st, st_global_key(st, idx));
    st_push(st, "0");
    st_push(st, "0");
    st_push(st, "WITHSCORES");
    if (st_send(st) < 0)
        return -1;
    st_push(st, "HGET");
    st_push(st, st_global_key(st, "cuts-done"));
    st_push(st, pt->pt_name);
    return st_send(st);
}

static int st_cuts_read_load(redisReply **r, size_t i, void *ctx)
{
    jd_state_part_t *pt = &((jd_state_part_t *)ctx)[i];
    const redisReply *last = r[0], *ahead = r[1], *d = r[2], *done = r[3];
    jd_state_cut_t c;

    pt->pt_done = done->type == REDIS_REPLY_STRING ? strtoll(done->str, NULL, 10) : -1;
    pt->pt_clock = INT64_MIN;
    if (last->type == REDIS_REPLY_ARRAY && last->elements == 1) {
        st_cut_parse(last->element[0]->str, &c);
        pt->pt_clock = c.cu_clock;
    }
    pt->pt_deadline = d->type == REDIS_REPLY_ARRAY && d->elements == 2
                          ? strtoll(d->element[1]->str, NULL, 10)
                          : INT64_MAX;
    pt->pt_ncuts = 0;
    pt->pt_cuts = NULL;
    if (ahead->type != REDIS_REPLY_ARRAY || !ahead->elements)
        return 0;
    if (!(pt->pt_cuts = calloc(ahead->elements, sizeof *pt->pt_cuts)))
        return -1;
    for (size_t k = 0; k < ahead->elements; k++)
        st_cut_parse(ahead->element[k]->str, &pt->pt_cuts[pt->pt_ncuts++]);
    return 0;
}

int jd_state_cuts_load(jd_state_t *st, jd_state_part_t *parts, size_t n, jd_err_t *err)
{
    return st_per_part(st, n, 4, st_cuts_push_load, st_cuts_read_load, parts, err);
}

typedef struct st_cuts_ctx {
    const char *const    *cx_parts;
    const int64_t        *cx_positions;
    const jd_state_cut_t *cx_cuts;
    jd_state_cut_t       *cx_last;
} st_cuts_ctx_t;

static int st_cuts_push_done(jd_state_t *st, size_t i, void *ctx)
{
    const st_cuts_ctx_t *cx = ctx;
    st_push(st, "HSET");
    st_push(st, st_global_key(st, "cuts-done"));
    st_push(st, cx->cx_parts[i]);
    st_push_i64(st, "%lld", cx->cx_positions[i]);
    return st_send(st);
}

int jd_state_cuts_done(jd_state_t *st, const char *const *parts, const int64_t *positions,
                       size_t n, jd_err_t *err)
{
    st_cuts_ctx_t cx = {parts, positions, NULL, NULL};
    return st_per_part(st, n, 1, st_cuts_push_done, NULL, &cx, err);
}

static int st_cuts_push_last(jd_state_t *st, size_t i, void *ctx)
{
    const st_cuts_ctx_t *cx = ctx;
    st_push(st, "ZREVRANGE");
    st_push(st, st_cuts_key(st, cx->cx_parts[i]));
    st_push(st, "0");
    st_push(st, "0");
    return st_send(st);
}

static int st_cuts_read_last(redisReply **r, size_t i, void *ctx)
{
    const st_cuts_ctx_t *cx = ctx;
    cx->cx_last[i] = (jd_state_cut_t){-1, INT64_MIN, INT64_MIN};
    if (r[0]->type == REDIS_REPLY_ARRAY && r[0]->elements == 1)
        st_cut_parse(r[0]->element[0]->str, &cx->cx_last[i]);
    return 0;
}

int jd_state_cuts_last(jd_state_t *st, const char *const *parts, size_t n, jd_state_cut_t *last,
                       jd_err_t *err)
{
    st_cuts_ctx_t cx = {parts, NULL, NULL, last};
    return st_per_part(st, n, 1, st_cuts_push_last, st_cuts_read_last, &cx, err);
}

static int st_cuts_push_record(jd_state_t *st, size_t i, void *ctx)
{
    const st_cuts_ctx_t *cx = ctx;
    const jd_state_cut_t *cu = &cx->cx_cuts[i];
    char member[80], clock[24] = "n", wm[24] = "n";
    if (cu->cu_clock != INT64_MIN)
        snprintf(clock, sizeof clock, "%lld", (long long)cu->cu_clock);
    if (cu->cu_watermark != INT64_MIN)
        snprintf(wm, sizeof wm, "%lld", (long long)cu->cu_watermark);
    snprintf(member, sizeof member, "%lld:%s:%s", (long long)cu->cu_position, clock, wm);
    st_push(st, "ZADD");
    st_push(st, st_cuts_key(st, cx->cx_parts[i]));
    st_push_i64(st, "%lld", cu->cu_position);
    st_push(st, member);
    if (st_send(st) < 0)
        return -1;
    st_push(st, "ZREMRANGEBYRANK");
    st_push(st, st_cuts_key(st, cx->cx_parts[i]));
    st_push(st, "0");
    st_push_i64(st, "%lld", -(int64_t)JD_STATE_CUTS_KEPT - 1);
    return st_send(st);
}

int jd_state_cuts_record(jd_state_t *st, const char *const *parts, const jd_state_cut_t *cuts,
                         size_t n, jd_err_t *err)
{
    st_cuts_ctx_t cx = {parts, NULL, cuts, NULL};
    return st_per_part(st, n, 2, st_cuts_push_record, NULL, &cx, err);
}

/* UNLINK of every key of one SCAN reply, one command per key (keys of
 * several slots: one multi-key UNLINK would be CROSSSLOT in a cluster). */
static int st_unlink_keys(jd_state_t *st, const redisReply *keys, jd_err_t *err)
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
    return rc ? rc : (int)n;
}

/* SCAN MATCH on the k-th master, unlinking what it finds. */
static int st_drop_node(jd_state_t *st, int k, const char *match, jd_err_t *err)
{
    char cursor[32] = "0";
    int rc, dropped = 0;

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
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            return jd_err_set(err, JD_ERR_RETRY, JD_E_REDIS, "redis scan: unexpected reply");
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        rc = st_unlink_keys(st, r->element[1], err);
        freeReplyObject(r);
        if (rc < 0)
            return rc;
        dropped += rc;
    } while (strcmp(cursor, "0") != 0);
    return dropped;
}

int jd_state_drop_all(jd_state_t *st, jd_err_t *err)
{
    char *match;
    int rc, dropped = 0;
    size_t len = 2 * strlen(st->st_prefix) + 3, m = 0;

    if ((rc = st_ensure(st, err)) != 0)
        return rc;
    if (!(match = malloc(len)))
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

/* ---- global sets (rule outcomes) ----------------------------------------------- */

/* Sends `cmd <prefix>:<names[i]> [members[i]]` for each i in one pipelined
 * round trip; *out gets the n replies (the caller frees them and it). */
static int st_each(jd_state_t *st, const char *cmd, const char *const *names,
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
        st_push(st, st_global_key(st, names[i]));
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

int jd_state_sadd(jd_state_t *st, const char *const *names, const char *const *members,
                  size_t n, jd_err_t *err)
{
    redisReply **r;
    int rc = n ? st_each(st, "SADD", names, members, n, &r, err) : 0;

    if (n && !rc) {
        st_free_replies(r, n);
        free(r);
    }
    return rc;
}

int jd_state_scard(jd_state_t *st, const char *const *names, size_t n, int64_t *out,
                   jd_err_t *err)
{
    redisReply **r;
    int rc = n ? st_each(st, "SCARD", names, NULL, n, &r, err) : 0;

    if (n && !rc) {
        for (size_t i = 0; i < n; i++)
            out[i] = r[i]->type == REDIS_REPLY_INTEGER ? (int64_t)r[i]->integer : 0;
        st_free_replies(r, n);
        free(r);
    }
    return rc;
}
