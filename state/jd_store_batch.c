/*
 * jd_store_batch: the batched, fenced write of jd_store (contract in
 * jd_store.h; the fence itself in store.lua). A jd_store_batch_t collects
 * copies of record writes and partition writes; jd_store_batch_send
 * sends them pipelined (EVALSHA of up to ST_CHUNK records on a single
 * node, one per record on a cluster, then the partition writes and one
 * SADD of the new accounts) and reads back, per record and per
 * partition, whether the fence refused it. A batch of more than
 * ST_ROUND_BYTES of records takes one round trip per ST_ROUND_BYTES,
 * the partition writes in the last one: hiredis formats every command
 * of a round and copies it into its output buffer, so a round (not the
 * whole batch, up to ~16 MiB for the largest group) is what the write
 * holds beyond the batch's own copies.
 *
 * Every write here is idempotent (see jd_store.c's design notes), so a
 * batch is re-sent as is after JD_ERR_RETRY; on NOSCRIPT the script is
 * loaded again and the batch re-sent once.
 *
 * Ownership: a jd_store_batch_t owns copies of everything added to it (in
 * sb_arena, kept across jd_store_batch_clear). One thread at a time uses
 * a batch: jd_writer's pipeline thread builds it and its writer thread
 * sends it on the writer's own store, between jd_writer_submit and
 * jd_writer_wait.
 */
#include "jd_store.h"
#include "jd_store_int.h"

#include <hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_arena.h"

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
    jd__store_push(st, "EVALSHA");
    jd__store_push(st, st->st_sha);
    jd__store_push_i64(st, nkeys);
    for (size_t k = i; k < j; k++) {
        jd__store_push_tagged(st, "", sb->sb_recs[k].br_account, ":rec");
        if (sb->sb_recs[k].br_sig_n)
            jd__store_push_tagged(st, "", sb->sb_recs[k].br_account, ":sig");
    }
    jd__store_push(st, "r");
    for (size_t k = i; k < j; k++) {
        const st_brec_t *br = &sb->sb_recs[k];
        jd__store_push_mem(st, (const char *)br->br_data, br->br_len);
        jd__store_push_i64(st, (int64_t)br->br_sig_n);
        for (size_t s = 0; s < 2 * br->br_sig_n; s++)
            jd__store_push(st, br->br_sig[s]);
    }
    return jd__store_send(st);
}

/* Appends one store.lua "p" call. */
static int st_push_part(jd_store_t *st, const st_bpart_t *bp)
{
    jd__store_push(st, "EVALSHA");
    jd__store_push(st, st->st_sha);
    jd__store_push(st, "2");
    jd__store_push_part_key(st, "part", bp->bp_topic, bp->bp_partition);
    jd__store_push_part_key(st, "timers", bp->bp_topic, bp->bp_partition);
    jd__store_push(st, "p");
    jd__store_push_i64(st, (int64_t)bp->bp_epoch);
    if (bp->bp_position == -1)
        jd__store_push(st, "");
    else
        jd__store_push_i64(st, bp->bp_position);
    if (bp->bp_clock == INT64_MIN)
        jd__store_push(st, "");
    else
        jd__store_push_i64(st, bp->bp_clock);
    for (size_t i = 0; i < bp->bp_n; i++) {
        jd__store_push(st, bp->bp_members[i]);
        jd__store_push_i64(st, bp->bp_deadlines[i]);
    }
    return jd__store_send(st);
}

/* Appends SADD <prefix>:accounts of every new account; returns 1 when
 * sent, 0 when there is none, -1 on OOM. */
static int st_push_accounts(jd_store_t *st, const jd_store_batch_t *sb)
{
    size_t members = 0;

    jd__store_push(st, "SADD");
    jd__store_push_global(st, "accounts");
    for (size_t i = 0; i < sb->sb_nrec; i++)
        if (sb->sb_recs[i].br_is_new && ++members)
            jd__store_push(st, sb->sb_recs[i].br_account);
    if (!members) {
        jd__store_drop(st);
        return 0;
    }
    return jd__store_send(st) < 0 ? -1 : 1;
}

/* Where the round starting at record i ends: once its records hold
 * ST_ROUND_BYTES (its last script call may hold fewer than ST_CHUNK). */
static size_t st_round_end(const jd_store_batch_t *sb, size_t i)
{
    size_t bytes = 0, j = i;
    while (j < sb->sb_nrec && bytes < ST_ROUND_BYTES)
        bytes += sb->sb_recs[j++].br_len;
    return j;
}

/* Appends the record calls of [i, j) and, when last, the partition writes
 * and the SADD; returns the command count, or -1 on OOM. */
static long st_round_push(jd_store_t *st, const jd_store_batch_t *sb, size_t i, size_t j,
                          size_t per, int last)
{
    long cmds = 0;
    int rc;

    for (; i < j; i += per, cmds++)
        if (st_push_records(st, sb, i, i + per < j ? i + per : j) < 0)
            return -1;
    if (!last)
        return cmds;
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
        return jd__store_reply_error(r, err, "batch (evalsha store.lua records)");
    if (r->type != REDIS_REPLY_ARRAY || r->elements != k)
        return jd__store_unexpected(err, "batch (evalsha store.lua records)");
    for (size_t j = 0; j < k; j++)
        sb->sb_recs[i + j].br_refused = jd__store_reply_i64(r->element[j], 0) == 1;
    return 0;
}

/* The reply of one partition write: its refusal. */
static int st_part_reply(jd_store_batch_t *sb, size_t k, const redisReply *r, jd_err_t *err)
{
    int rc = r->type == REDIS_REPLY_ERROR
                 ? jd__store_reply_error(r, err, "batch (evalsha store.lua part)")
             : r->type != REDIS_REPLY_INTEGER
                 ? jd__store_unexpected(err, "batch (evalsha store.lua part)")
                 : 0;
    sb->sb_parts[k].bp_refused = !rc && r->integer == 1;
    return rc;
}

/* Takes the replies of st_round_push in order; the first error is the one
 * reported; *noscript tells whether a script call met NOSCRIPT. */
static int st_round_parse(jd_store_batch_t *sb, redisReply **r, size_t cmds, size_t i,
                          size_t j, size_t per, int last, int *noscript, jd_err_t *err)
{
    size_t c = 0;
    int rc = 0, one;

    for (; i < j; i += per, c++) {
        *noscript |= st_is_noscript(r[c]);
        one = st_records_reply(sb, i, j - i < per ? j - i : per, r[c], rc ? NULL : err);
        rc = rc ? rc : one;
    }
    for (size_t k = 0; last && k < sb->sb_npart; k++, c++) {
        *noscript |= st_is_noscript(r[c]);
        one = st_part_reply(sb, k, r[c], rc ? NULL : err);
        rc = rc ? rc : one;
    }
    if (!rc && c < cmds && r[c]->type == REDIS_REPLY_ERROR)
        rc = jd__store_reply_error(r[c], err, "batch (sadd accounts)");
    return rc;
}

/* One round trip: the record calls of [i, j) (and, when last, the rest),
 * appended, then every reply read. */
static int st_round(jd_store_t *st, jd_store_batch_t *sb, size_t i, size_t j, size_t per,
                    int last, int *noscript, jd_err_t *err)
{
    long cmds = st_round_push(st, sb, i, j, per, last);
    redisReply **r;
    int rc;

    if (cmds < 0)
        return jd__store_oom_error(st, err, "batch");
    if (!cmds)
        return 0;
    if (!(r = calloc((size_t)cmds, sizeof *r)))
        return jd__store_oom_error(st, err, "batch");
    if ((rc = jd__store_read_all(st, r, (size_t)cmds, "batch", err)) == 0) {
        rc = st_round_parse(sb, r, (size_t)cmds, i, j, per, last, noscript, err);
        jd__store_free_replies(r, (size_t)cmds);
    }
    free(r);
    return rc;
}

/* One attempt: the records in rounds of about ST_ROUND_BYTES, the last
 * one with the partition writes and the SADD, so that what is formatted
 * and buffered for Redis at once stays within a round whatever the size
 * of the group. An error ends the attempt (the batch is re-sent whole:
 * every write is idempotent), and no partition moves past a record that
 * was not written. */
static int st_batch_once(jd_store_t *st, jd_store_batch_t *sb, int *noscript, jd_err_t *err)
{
    size_t per = jd_redis_is_cluster(st->st_rd) ? 1 : ST_CHUNK, i = 0;
    int rc = 0;

    do {
        size_t j = st_round_end(sb, i);
        rc = st_round(st, sb, i, j, per, j == sb->sb_nrec, noscript, err);
        i = j;
    } while (!rc && i < sb->sb_nrec);
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
        if ((rc = jd__store_ensure(st, err)) != 0)
            return rc;
        rc = st_batch_once(st, sb, &noscript, err);
        if (!noscript || attempt)
            break;
        if ((rc = jd__store_load_script(st, err)) != 0) /* flushed under us: reload, re-send */
            break;
    }
    return rc;
}
