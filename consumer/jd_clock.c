/*
 * jd_clock: per-partition event-time progress and the watermark over the
 * assigned partitions (contract in jd_clock.h).
 *
 * A partition is caught up when the end-of-partition notice arrived at or
 * after the next offset to read; any later message makes it behind again
 * until the next notice. A behind partition bounds the watermark by the
 * latest event time read from it: with events in time order per partition
 * (up to the allowed lateness the caller subtracts), every event at or
 * before the watermark has been read, whichever partition it sits on and
 * however the fetches interleave. A partition that has delivered neither
 * a message nor a notice might hold anything, so it holds the clock. A
 * behind partition that has only delivered dead letters has no time to
 * offer and is passed over rather than stopping the clock for good.
 *
 * The table is a small array searched linearly: a consumer reads tens of
 * partitions, and the watermark is computed once per batch.
 */
#include "jd_clock.h"

#include <stdlib.h>
#include <string.h>

typedef struct jd_clock_part {
    char   *cp_topic;
    int32_t cp_partition;
    int64_t cp_next;     /* next offset to read */
    int64_t cp_latest;   /* latest occurred_at read, or JD_CLOCK_NO_TIME */
    int     cp_caught_up;
} jd_clock_part_t;

struct jd_clock {
    jd_clock_part_t *ck_parts;
    size_t           ck_n, ck_cap;
};

jd_clock_t *jd_clock_new(void)
{
    return calloc(1, sizeof(jd_clock_t));
}

void jd_clock_destroy(jd_clock_t *clk)
{
    if (!clk)
        return;
    for (size_t i = 0; i < clk->ck_n; i++)
        free(clk->ck_parts[i].cp_topic);
    free(clk->ck_parts);
    free(clk);
}

static jd_clock_part_t *jd_clock_find(const jd_clock_t *clk, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < clk->ck_n; i++)
        if (clk->ck_parts[i].cp_partition == partition &&
            strcmp(clk->ck_parts[i].cp_topic, topic) == 0)
            return &clk->ck_parts[i];
    return NULL;
}

static jd_clock_part_t *jd_clock_get(jd_clock_t *clk, const char *topic, int32_t partition)
{
    jd_clock_part_t *p = jd_clock_find(clk, topic, partition);
    if (p)
        return p;
    if (clk->ck_n == clk->ck_cap) {
        size_t cap = clk->ck_cap ? clk->ck_cap * 2 : 16;
        jd_clock_part_t *np = realloc(clk->ck_parts, cap * sizeof *np);
        if (!np)
            return NULL;
        clk->ck_parts = np;
        clk->ck_cap = cap;
    }
    p = &clk->ck_parts[clk->ck_n];
    if (!(p->cp_topic = strdup(topic)))
        return NULL;
    clk->ck_n++;
    p->cp_partition = partition;
    p->cp_next = -1;
    p->cp_latest = JD_CLOCK_NO_TIME;
    p->cp_caught_up = 0;
    return p;
}

int jd_clock_message(jd_clock_t *clk, const char *topic, int32_t partition, int64_t offset,
                     int64_t occurred_at)
{
    jd_clock_part_t *p = jd_clock_get(clk, topic, partition);
    if (!p)
        return -1;
    if (offset + 1 > p->cp_next)
        p->cp_next = offset + 1;
    if (occurred_at != JD_CLOCK_NO_TIME && occurred_at > p->cp_latest)
        p->cp_latest = occurred_at;
    p->cp_caught_up = 0;
    return 0;
}

int jd_clock_eof(jd_clock_t *clk, const char *topic, int32_t partition, int64_t offset)
{
    jd_clock_part_t *p = jd_clock_get(clk, topic, partition);
    if (!p)
        return -1;
    if (offset >= p->cp_next) {
        p->cp_next = offset;
        p->cp_caught_up = 1;
    }
    return 0;
}

/* ended: every partition counts as caught up, heard from or not. */
static int jd_clock_compute(const jd_clock_t *clk, const jd_clock_tp_t *tps, size_t n, int ended,
                            int64_t *out)
{
    int64_t behind = INT64_MAX, latest = JD_CLOCK_NO_TIME;

    for (size_t i = 0; i < n; i++) {
        const jd_clock_part_t *p = jd_clock_find(clk, tps[i].tp_topic, tps[i].tp_partition);
        if (!p && ended)
            continue;
        if (!p)
            return -1; /* nothing heard from it yet */
        if (p->cp_latest == JD_CLOCK_NO_TIME)
            continue;
        if (p->cp_latest > latest)
            latest = p->cp_latest;
        if (!ended && !p->cp_caught_up && p->cp_latest < behind)
            behind = p->cp_latest;
    }
    if (latest == JD_CLOCK_NO_TIME)
        return -1;
    *out = behind != INT64_MAX ? behind : latest;
    return 0;
}

int jd_clock_watermark(const jd_clock_t *clk, const jd_clock_tp_t *tps, size_t n, int64_t *out)
{
    return jd_clock_compute(clk, tps, n, 0, out);
}

int jd_clock_latest(const jd_clock_t *clk, const jd_clock_tp_t *tps, size_t n, int64_t *out)
{
    return jd_clock_compute(clk, tps, n, 1, out);
}
