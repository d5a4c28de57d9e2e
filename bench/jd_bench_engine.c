/*
 * jd_bench_engine: the micro-benchmark of the state engine's per-event
 * step, on journeyd_core's own functions: jd_sim events (generated and
 * copied first, outside the timed part) go one by one through
 * jd_step_event on their account's in-memory record (jd_account.h),
 * which de-duplicates, applies, derives the signals, observes the
 * journey and decides every rule. Reported: ns per event over the whole
 * log, split into the first pass (accounts new: stage events, first
 * firings) and the rest, mallocs per event, triggers and stage changes
 * per 1000 events, and the record's heap bytes per account at the end.
 * The account lookup is a plain open-addressing table here (the cache of
 * the pipeline is measured by the full bench). Main thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "jd_account.h"
#include "jd_bench.h"
#include "jd_rules.h"
#include "jd_step.h"

#ifdef JD_BENCH_COUNT_MALLOC
extern uint64_t jd_bench_malloc_count;
#define JD_BENCH_E_MALLOCS() __atomic_load_n(&jd_bench_malloc_count, __ATOMIC_RELAXED)
#else
#define JD_BENCH_E_MALLOCS() UINT64_C(0)
#endif

typedef struct jd_bench_accts {
    jd_account_t **ba_slot;
    size_t         ba_mask, ba_n;
} jd_bench_accts_t;

static jd_account_t *jd_bench_account_get(jd_bench_accts_t *ba, const char *id)
{
    size_t i = (size_t)XXH3_64bits(id, strlen(id)) & ba->ba_mask;
    for (; ba->ba_slot[i]; i = (i + 1) & ba->ba_mask)
        if (strcmp(ba->ba_slot[i]->ac_id, id) == 0)
            return ba->ba_slot[i];
    ba->ba_n++;
    return ba->ba_slot[i] = jd_account_new(id);
}

#define JD_BENCH_E_CHUNK 512 /* events whose accounts are looked up at once */

typedef struct jd_bench_epass {
    double   ep_ns;
    uint64_t ep_mallocs, ep_triggers, ep_stages;
} jd_bench_epass_t;

static int jd_bench_engine_pass(jd_step_t *sp, jd_bench_accts_t *ba, const jd_event_t *ev,
                                size_t n, jd_bench_epass_t *ep)
{
    jd_account_t *acc[JD_BENCH_E_CHUNK];
    uint64_t m0 = JD_BENCH_E_MALLOCS();
    double t0 = jd_bench_now();
    for (size_t c = 0; c < n; c += JD_BENCH_E_CHUNK) {
        size_t k = n - c < JD_BENCH_E_CHUNK ? n - c : JD_BENCH_E_CHUNK;
        for (size_t i = 0; i < k; i++) /* as the pipeline: the batch's */
            if (!(acc[i] = jd_bench_account_get(ba, ev[c + i].ev_account)))
                return -1;                 /* accounts first, then events */
        for (size_t i = 0; i < k; i++) {
            jd_account_prefetch(i + 8 < k ? acc[i + 8] : NULL, 0);
            jd_account_prefetch(i + 4 < k ? acc[i + 4] : NULL, 1);
            int rc = jd_step_event(sp, acc[i], &ev[c + i]);
            if (rc < 0)
                return -1;
            ep->ep_triggers += (uint64_t)rc;
            ep->ep_stages += sp->sp_journey && sp->sp_change.ch_stage;
        }
    }
    ep->ep_ns = (jd_bench_now() - t0) * 1e9 / (double)(n ? n : 1);
    ep->ep_mallocs = JD_BENCH_E_MALLOCS() - m0;
    return 0;
}

static size_t jd_bench_engine_events(jd_arena_t *ar, jd_event_t *evs, int accounts, int days,
                                     size_t n)
{
    jd_bench_gen_t g;
    jd_event_t ev;
    size_t k = 0;
    if (jd_bench_gen_init(&g, JD_BENCH_GEN_SIM, accounts, days, 42, 0))
        return 0;
    while (k < n && jd_bench_gen_next(&g, &ev) == 1)
        jd_bench_event_copy(ar, &evs[k++], &ev);
    jd_bench_gen_free(&g);
    return k;
}

static void jd_bench_engine_report(int accounts, size_t n, size_t first,
                                   const jd_bench_epass_t *a, const jd_bench_epass_t *b,
                                   const jd_bench_accts_t *ba)
{
    jd_bench_json_t js;
    size_t bytes = 0;
    for (size_t i = 0; i <= ba->ba_mask; i++)
        if (ba->ba_slot[i])
            bytes += jd_account_bytes(ba->ba_slot[i]);
    double all = (a->ep_ns * (double)first + b->ep_ns * (double)(n - first)) / (double)n;
    jd_bench_json_begin(&js, "micro_engine", "");
    jd_bench_json_int(&js, "accounts", accounts);
    jd_bench_json_int(&js, "events", (long long)n);
    jd_bench_json_num(&js, "ns_per_event", all);
    jd_bench_json_num(&js, "events_per_s", all > 0 ? 1e9 / all : 0);
    jd_bench_json_num(&js, "first_ns_per_event", a->ep_ns);
    jd_bench_json_num(&js, "rest_ns_per_event", b->ep_ns);
    jd_bench_json_num(&js, "mallocs_per_event",
                      (double)(a->ep_mallocs + b->ep_mallocs) / (double)n);
    jd_bench_json_num(&js, "triggers_per_1000",
                      1000.0 * (double)(a->ep_triggers + b->ep_triggers) / (double)n);
    jd_bench_json_num(&js, "stage_changes_per_1000",
                      1000.0 * (double)(a->ep_stages + b->ep_stages) / (double)n);
    jd_bench_json_num(&js, "heap_bytes_per_account",
                      (double)bytes / (double)(ba->ba_n ? ba->ba_n : 1));
    jd_bench_json_end(&js);
}

int jd_bench_micro_engine(const jd_config_t *cf, const struct jd_ruleset *rs, int accounts,
                          int days, size_t events)
{
    jd_account_conf_t acf;
    jd_signals_conf_t sgc;
    jd_arena_t ar;
    jd_bench_accts_t ba = {0};
    jd_bench_epass_t a = {0}, b = {0};
    jd_event_t *evs = calloc(events, sizeof *evs);
    size_t cap = 1;
    int rc = 1;

    while (cap < 2 * (size_t)accounts)
        cap <<= 1;
    ba.ba_slot = calloc(cap, sizeof *ba.ba_slot);
    ba.ba_mask = cap - 1;
    jd_arena_init(&ar, 1 << 20);
    jd_config_account(cf, &acf, &sgc);
    jd_step_t *sp = jd_step_new(rs, &acf, (int64_t)cf->cf_timers_tick_s * 1000);
    size_t n = evs && ba.ba_slot ? jd_bench_engine_events(&ar, evs, accounts, days, events) : 0;
    size_t first = n / 10;
    if (sp && n && jd_bench_engine_pass(sp, &ba, evs, first, &a) == 0 &&
        jd_bench_engine_pass(sp, &ba, evs + first, n - first, &b) == 0) {
        jd_bench_engine_report(accounts, n, first, &a, &b, &ba);
        rc = 0;
    }
    for (size_t i = 0; ba.ba_slot && i < cap; i++)
        jd_account_destroy(ba.ba_slot[i]);
    free(ba.ba_slot);
    jd_step_destroy(sp);
    jd_arena_destroy(&ar);
    free(evs);
    return rc;
}
