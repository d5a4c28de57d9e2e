/*
 * jd_store_tools: the readers and tools of jd_store outside the batch
 * cycle (contract in jd_store.h): the account count and SSCAN walk, the
 * rule outcome sets (jd_store_sadd, jd_store_scard) and jd_store_drop_all
 * (SCAN and UNLINK on every master). Used by the command line tools, the
 * engine and jd_outcomes; none of them is fenced, and none is on the
 * hot path of a batch.
 *
 * Each call is built and read like the rest of jd_store (jd_store_int.h):
 * all commands first, every reply read in one loop.
 *
 * Ownership: names and members passed in are borrowed for the call; the
 * account ids handed to a jd_store_account_fn are valid only during the
 * callback. Runs on the thread of its jd_store_t.
 */
#include "jd_store.h"
#include "jd_store_int.h"

#include <hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Readers and tools --------------------------------------------------------- */

int64_t jd_store_account_count(jd_store_t *st, jd_err_t *err)
{
    redisReply *r = NULL;
    int64_t n;
    int rc;

    if ((rc = jd__store_ensure(st, err)) != 0)
        return rc;
    jd__store_push(st, "SCARD");
    jd__store_push_global(st, "accounts");
    if (jd__store_send(st) < 0)
        return jd__store_oom_error(st, err, "scard");
    if ((rc = jd__store_roundtrip(st, &r, 1, "scard", err)) != 0)
        return rc;
    n = jd__store_reply_i64(r, 0);
    freeReplyObject(r);
    return n;
}

/* One SSCAN / SCAN reply: [cursor, [items]]; copies the cursor. */
static int st_scan_reply(const redisReply *r, char *cursor, size_t cap, jd_err_t *err,
                         const char *what)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY)
        return jd__store_unexpected(err, what);
    snprintf(cursor, cap, "%s", r->element[0]->str);
    return 0;
}

int jd_store_accounts(jd_store_t *st, jd_store_account_fn fn, void *opaque, jd_err_t *err)
{
    char cursor[32] = "0";
    int rc;

    if ((rc = jd__store_ensure(st, err)) != 0)
        return rc;
    do {
        redisReply *r = NULL;
        jd__store_push(st, "SSCAN");
        jd__store_push_global(st, "accounts");
        jd__store_push(st, cursor);
        jd__store_push(st, "COUNT");
        jd__store_push(st, "1000");
        if (jd__store_send(st) < 0)
            return jd__store_oom_error(st, err, "sscan");
        if ((rc = jd__store_roundtrip(st, &r, 1, "sscan", err)) != 0)
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
    if ((rc = jd__store_ensure(st, err)) != 0)
        return rc;
    if (!(r = calloc(n, sizeof *r)))
        return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        jd__store_push(st, cmd);
        jd__store_push_global(st, names[i]);
        if (members)
            jd__store_push(st, members[i]);
        if (jd__store_send(st) < 0) {
            free(r);
            return jd__store_oom_error(st, err, cmd);
        }
    }
    if ((rc = jd__store_roundtrip(st, r, n, cmd, err)) != 0) {
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
    if ((rc = jd__store_ensure(st, err)) != 0)
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
        jd__store_push(st, "SADD");
        jd__store_push_global(st, sm[i].sm_name);
        for (; j < n && strcmp(sm[j].sm_name, sm[i].sm_name) == 0; j++)
            jd__store_push(st, sm[j].sm_member);
        i = j;
        if (jd__store_send(st) < 0) {
            free(sm);
            free(r);
            return jd__store_oom_error(st, err, "SADD");
        }
    }
    free(sm);
    if ((rc = jd__store_roundtrip(st, r, ncmd, "SADD", err)) == 0)
        jd__store_free_replies(r, ncmd);
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
            out[i] = jd__store_reply_i64(r[i], 0);
        jd__store_free_replies(r, n);
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
        jd__store_push(st, "UNLINK");
        jd__store_push_mem(st, keys->element[i]->str, keys->element[i]->len);
        if (jd__store_send(st) < 0) {
            free(u);
            return jd__store_oom_error(st, err, "unlink");
        }
    }
    if ((rc = jd__store_roundtrip(st, u, n, "unlink", err)) == 0)
        jd__store_free_replies(u, n);
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
        jd__store_push(st, "SCAN");
        jd__store_push(st, cursor);
        jd__store_push(st, "MATCH");
        jd__store_push(st, match);
        jd__store_push(st, "COUNT");
        jd__store_push(st, "1000");
        if (jd__store_send_to(st, k) < 0)
            return jd__store_oom_error(st, err, "scan");
        if ((rc = jd__store_roundtrip(st, &r, 1, "scan", err)) != 0)
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

    if ((rc = jd__store_ensure(st, err)) != 0)
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
