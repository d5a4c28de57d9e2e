/*
 * jd_segment: per-partition decision points (contract in jd_segment.h).
 *
 * Each partition keeps the index (offset / interval) of the segment it is
 * in, the next offset it expects, its clock and earliest deadline, and the dirty
 * accounts of the open segment in an open-addressing table keyed by the
 * account id, whose strings live in the partition's arena until the
 * segment closes. The partitions themselves are a small array searched
 * linearly: a consumer reads tens of partitions, and lookups happen once
 * per partition per batch.
 */
#include "jd_segment.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "jd_arena.h"

struct jd_seg {
    char          *sg_topic;
    int32_t        sg_partition;
    int64_t        sg_index;      /* segment of the last message; -1: none open */
    int64_t        sg_next;       /* next offset expected; -1: nothing read */
    int64_t        sg_first;      /* first offset that made an account dirty */
    int64_t        sg_time;       /* latest occurred_at read */
    int64_t        sg_deadline;   /* earliest deadline of the timer index */
    int64_t        sg_timer_w;    /* watermark timers last ran to */
    int            sg_loaded;     /* sg_time came from the store */
    int            sg_caught_up;  /* end of partition, no message since */
    jd_seg_cut_t  *sg_cuts;       /* recorded cuts still to replay */
    size_t         sg_ncuts, sg_cut;
    int64_t        sg_interval;
    jd_seg_acct_t *sg_accts;      /* dirty accounts, dense */
    size_t         sg_n, sg_cap;
    size_t        *sg_slots;      /* open addressing: index into sg_accts + 1 */
    size_t         sg_nslots;     /* a power of two >= 2 * sg_cap */
    jd_arena_t     sg_arena;      /* account ids */
};

struct jd_segs {
    jd_seg_t **ss_parts;
    size_t     ss_n, ss_cap;
    int64_t    ss_interval;
};

jd_segs_t *jd_segs_new(int64_t interval)
{
    jd_segs_t *s = calloc(1, sizeof *s);
    if (s)
        s->ss_interval = interval < 1 ? 1 : interval;
    return s;
}

static void jd_seg_free(jd_seg_t *g)
{
    free(g->sg_topic);
    free(g->sg_accts);
    free(g->sg_slots);
    free(g->sg_cuts);
    jd_arena_destroy(&g->sg_arena);
    free(g);
}

void jd_segs_destroy(jd_segs_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ss_n; i++)
        jd_seg_free(s->ss_parts[i]);
    free(s->ss_parts);
    free(s);
}

static void jd_seg_reset(jd_seg_t *g)
{
    g->sg_index = -1;
    g->sg_next = -1;
    g->sg_first = -1;
    g->sg_time = JD_SEG_NO_TIME;
    g->sg_deadline = INT64_MAX;
    g->sg_timer_w = INT64_MIN;
    g->sg_loaded = 0;
    g->sg_caught_up = 0;
    free(g->sg_cuts);
    g->sg_cuts = NULL;
    g->sg_ncuts = g->sg_cut = 0;
    jd_seg_close(g);
}

jd_seg_t *jd_segs_get(jd_segs_t *s, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < s->ss_n; i++)
        if (s->ss_parts[i]->sg_partition == partition &&
            strcmp(s->ss_parts[i]->sg_topic, topic) == 0)
            return s->ss_parts[i];
    if (s->ss_n == s->ss_cap) {
        size_t cap = s->ss_cap ? 2 * s->ss_cap : 16;
        jd_seg_t **np = realloc(s->ss_parts, cap * sizeof *np);
        if (!np)
            return NULL;
        s->ss_parts = np;
        s->ss_cap = cap;
    }
    jd_seg_t *g = calloc(1, sizeof *g);
    if (!g || !(g->sg_topic = strdup(topic))) {
        free(g);
        return NULL;
    }
    g->sg_partition = partition;
    g->sg_interval = s->ss_interval;
    jd_arena_init(&g->sg_arena, 16 * 1024);
    jd_seg_reset(g);
    return s->ss_parts[s->ss_n++] = g;
}

void jd_segs_retain(jd_segs_t *s, int (*keep)(const char *, int32_t, void *), void *opaque)
{
    size_t k = 0;
    for (size_t i = 0; i < s->ss_n; i++) {
        jd_seg_t *g = s->ss_parts[i];
        if (keep(g->sg_topic, g->sg_partition, opaque))
            s->ss_parts[k++] = g;
        else
            jd_seg_free(g);
    }
    s->ss_n = k;
}

void jd_segs_each(jd_segs_t *s, void (*fn)(jd_seg_t *, void *), void *opaque)
{
    for (size_t i = 0; i < s->ss_n; i++)
        fn(s->ss_parts[i], opaque);
}

const char *jd_seg_topic(const jd_seg_t *g)
{
    return g->sg_topic;
}

int32_t jd_seg_partition(const jd_seg_t *g)
{
    return g->sg_partition;
}

void jd_seg_begin(jd_seg_t *g, int64_t offset, int rebalanced)
{
    if (g->sg_next < 0)
        g->sg_loaded = 0; /* loaded before any read: load again from here */
    else if (offset < g->sg_next || (rebalanced && offset != g->sg_next))
        jd_seg_reset(g);
}

int jd_seg_loaded(const jd_seg_t *g)
{
    return g->sg_loaded;
}

int jd_seg_load(jd_seg_t *g, int64_t time, int64_t deadline, const jd_seg_cut_t *cuts,
                size_t n)
{
    free(g->sg_cuts);
    g->sg_cuts = NULL;
    g->sg_ncuts = g->sg_cut = 0;
    if (n && !(g->sg_cuts = malloc(n * sizeof *cuts)))
        return -1;
    if (n)
        memcpy(g->sg_cuts, cuts, n * sizeof *cuts);
    g->sg_ncuts = n;
    g->sg_time = time; /* the clock where reading starts, whatever was loaded before */
    g->sg_deadline = deadline;
    g->sg_loaded = 1;
    return 0;
}

int jd_seg_replaying(const jd_seg_t *g)
{
    return g->sg_cut < g->sg_ncuts;
}

int jd_seg_recorded(jd_seg_t *g, int64_t offset, int64_t *watermark, int *done)
{
    if (g->sg_cut == g->sg_ncuts || offset < g->sg_cuts[g->sg_cut].sc_position)
        return 0;
    *watermark = g->sg_cuts[g->sg_cut].sc_watermark;
    *done = g->sg_cuts[g->sg_cut++].sc_done;
    return 1;
}

int64_t jd_seg_next(const jd_seg_t *g)
{
    return g->sg_next;
}

int64_t jd_seg_deadline(const jd_seg_t *g)
{
    return g->sg_deadline;
}

void jd_seg_timers_ran(jd_seg_t *g, int64_t watermark, int64_t next)
{
    if (watermark > g->sg_timer_w)
        g->sg_timer_w = watermark;
    g->sg_deadline = next;
}

int64_t jd_seg_timer_w(const jd_seg_t *g)
{
    return g->sg_timer_w;
}

static int64_t jd_seg_floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

int jd_seg_due_before(const jd_seg_t *g, int64_t at, int64_t lateness, int64_t tick,
                      int64_t *watermark)
{
    int64_t t0 = g->sg_time, t = t0;
    if (at != JD_SEG_NO_TIME && (t == JD_SEG_NO_TIME || at > t))
        t = at;
    if (t == JD_SEG_NO_TIME)
        return 0;
    *watermark = t - lateness;
    if (*watermark >= g->sg_deadline && *watermark > g->sg_timer_w)
        return 1;
    return tick > 0 && g->sg_n && t0 != JD_SEG_NO_TIME &&
           jd_seg_floor_div(t - lateness, tick) > jd_seg_floor_div(t0 - lateness, tick);
}

int jd_seg_cuts_before(const jd_seg_t *g, int64_t offset)
{
    return g->sg_index >= 0 && offset / g->sg_interval != g->sg_index;
}

void jd_seg_message(jd_seg_t *g, int64_t offset, int64_t occurred_at)
{
    g->sg_index = offset / g->sg_interval;
    g->sg_caught_up = 0;
    if (offset + 1 > g->sg_next)
        g->sg_next = offset + 1;
    if (occurred_at != JD_SEG_NO_TIME && (g->sg_time == JD_SEG_NO_TIME || occurred_at > g->sg_time))
        g->sg_time = occurred_at;
}

void jd_seg_eof(jd_seg_t *g)
{
    g->sg_index = -1;
    g->sg_caught_up = 1;
}

int jd_seg_caught_up(const jd_seg_t *g)
{
    return g->sg_caught_up;
}

static int jd_seg_grow(jd_seg_t *g)
{
    size_t cap = g->sg_cap ? 2 * g->sg_cap : 64, nslots = 2 * cap;
    jd_seg_acct_t *na = realloc(g->sg_accts, cap * sizeof *na);
    size_t *ns = calloc(nslots, sizeof *ns);
    if (!na || !ns) {
        free(ns);
        if (na)
            g->sg_accts = na;
        return -1;
    }
    g->sg_accts = na;
    g->sg_cap = cap;
    free(g->sg_slots);
    g->sg_slots = ns;
    g->sg_nslots = nslots;
    for (size_t i = 0; i < g->sg_n; i++) {
        const char *a = g->sg_accts[i].sa_account;
        size_t h = (size_t)XXH3_64bits(a, strlen(a)) & (nslots - 1);
        while (ns[h])
            h = (h + 1) & (nslots - 1);
        ns[h] = i + 1;
    }
    return 0;
}

int jd_seg_note(jd_seg_t *g, const char *account, int64_t offset, int64_t occurred_at)
{
    size_t len = strlen(account);
    if (g->sg_n == g->sg_cap && jd_seg_grow(g))
        return -1;
    size_t mask = g->sg_nslots - 1, h = (size_t)XXH3_64bits(account, len) & mask;
    for (; g->sg_slots[h]; h = (h + 1) & mask) {
        jd_seg_acct_t *sa = &g->sg_accts[g->sg_slots[h] - 1];
        if (strcmp(sa->sa_account, account) == 0) {
            if (occurred_at > sa->sa_at)
                sa->sa_at = occurred_at;
            sa->sa_offset = offset;
            return 0;
        }
    }
    char *copy = jd_arena_strndup(&g->sg_arena, account, len);
    if (!copy)
        return -1;
    g->sg_accts[g->sg_n] = (jd_seg_acct_t){copy, occurred_at, offset};
    g->sg_slots[h] = ++g->sg_n;
    if (g->sg_first < 0)
        g->sg_first = offset;
    return 0;
}

size_t jd_seg_dirty(const jd_seg_t *g, const jd_seg_acct_t **out)
{
    *out = g->sg_accts;
    return g->sg_n;
}

void jd_seg_close(jd_seg_t *g)
{
    if (g->sg_slots)
        memset(g->sg_slots, 0, g->sg_nslots * sizeof *g->sg_slots);
    g->sg_n = 0;
    g->sg_first = -1;
    g->sg_index = -1;
    jd_arena_reset(&g->sg_arena);
}

int64_t jd_seg_store_offset(const jd_seg_t *g)
{
    return g->sg_first >= 0 ? g->sg_first : g->sg_next;
}

int64_t jd_seg_time(const jd_seg_t *g)
{
    return g->sg_time;
}
