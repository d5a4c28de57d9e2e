/*
 * jd_bench_micro: micro-benchmarks of journeyd's stages, on journeyd_core's
 * own functions (never copies):
 *
 *   decode  jd_decoder_decode of jd_sim product events (Confluent-framed, as
 *           `journeyd simulate` writes them) into a per-batch arena, one
 *           thread: ns/event, events/s on one core, heap allocations per
 *           event (counted by interposing malloc, jd_bench_malloc.c).
 *   rules   jd_signals_derive + jd_rules_decide of the default rules over
 *           10k accounts: ns/account, on a firing pass (fresh rule
 *           states, triggers built) and on steady passes (nothing new).
 *   mapped  upstream records through the field mapping (jd_bench_mapped.c):
 *           the fast path against avro-c's generic reader, ns/event and
 *           mallocs/event of each.
 *   engine  the state engine's per-event step (jd_bench_engine.c):
 *           jd_step_event on in-memory account records, jd_sim events
 *           of 10k accounts: ns/event, mallocs/event, heap per account.
 * --smoke runs decode, mapped, rules and engine with a few iterations (ctest runs it: it
 * checks that the code runs, never how fast). One JSON line per bench.
 * Main thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "jd_bench.h"
#include "jd_cli.h"
#include "jd_rules.h"
#include "jd_signals.h"

#ifdef JD_BENCH_COUNT_MALLOC
extern uint64_t jd_bench_malloc_count;
#define JD_BENCH_MALLOCS() __atomic_load_n(&jd_bench_malloc_count, __ATOMIC_RELAXED)
#else
#define JD_BENCH_MALLOCS() UINT64_C(0)
#endif

#define JD_BENCH_DAY_MS 86400000LL

static const char *jd_bench_m_smoke, *jd_bench_m_only, *jd_bench_m_events, *jd_bench_m_days;
static const jd_cli_flag_t jd_bench_m_flags[] = {
    {"smoke", 0, &jd_bench_m_smoke, "a few iterations only (ctest)"},
    {"only", 1, &jd_bench_m_only, "comma-separated: decode,mapped,rules,engine"},
    {"events", 1, &jd_bench_m_events, "decode: events (default 200000)"},
    {"days", 1, &jd_bench_m_days, "engine: simulated days (default 30)"},
};
#define JD_BENCH_M_NFLAGS (sizeof jd_bench_m_flags / sizeof *jd_bench_m_flags)

static int jd_bench_m_want(const char *name)
{
    if (!jd_bench_m_only)
        return !jd_bench_m_smoke || !strcmp(name, "decode") || !strcmp(name, "mapped") ||
               !strcmp(name, "rules") || !strcmp(name, "engine");
    size_t n = strlen(name);
    for (const char *p = jd_bench_m_only; (p = strstr(p, name)); p += n)
        if ((p == jd_bench_m_only || p[-1] == ',') && (p[n] == ',' || !p[n]))
            return 1;
    return 0;
}

/* ---- decode ----------------------------------------------------------------- */

/* n encoded events, back to back in one buffer. */
typedef struct jd_bench_corpus {
    unsigned char *co_data;
    size_t        *co_off;   /* n + 1 offsets */
    size_t         co_n;
} jd_bench_corpus_t;

static int jd_bench_corpus_build(jd_bench_corpus_t *co, const jd_config_t *cf, size_t n)
{
    jd_bench_gen_t g;
    jd_encoder_t *enc;
    jd_buf_t buf = {0};
    jd_event_t ev;
    jd_err_t err;
    size_t cap = n * 128, len = 0;
    memset(co, 0, sizeof *co);
    co->co_data = malloc(cap);
    co->co_off = malloc((n + 1) * sizeof *co->co_off);
    if (!co->co_data || !co->co_off || !(enc = jd_encoder_new(&err)))
        return -1;
    if (jd_bench_gen_init(&g, JD_BENCH_GEN_SIM, 2000, 30, 42, 0)) {
        jd_encoder_destroy(enc);
        return -1;
    }
    while (co->co_n < n && jd_bench_gen_next(&g, &ev) == 1 &&
           !jd_encoder_event(enc, &ev, cf->cf_product_schema_id, &buf, &err)) {
        if (len + buf.b_len > cap) {
            unsigned char *nd = realloc(co->co_data, cap *= 2);
            if (!nd)
                break;
            co->co_data = nd;
        }
        co->co_off[co->co_n++] = len;
        memcpy(co->co_data + len, buf.b_data, buf.b_len);
        len += buf.b_len;
    }
    co->co_off[co->co_n] = len;
    jd_buf_free(&buf);
    jd_encoder_destroy(enc);
    jd_bench_gen_free(&g);
    return co->co_n == n ? 0 : -1;
}

/* One pass over the corpus; returns decode errors. */
static size_t jd_bench_decode_pass(jd_decoder_t *dec, const jd_bench_corpus_t *co,
                                   jd_arena_t *ar, size_t batch)
{
    jd_event_t ev;
    jd_err_t err;
    size_t bad = 0;
    for (size_t i = 0; i < co->co_n; i++) {
        if (i % batch == 0)
            jd_arena_reset(ar);
        bad += jd_decoder_decode(dec, co->co_data + co->co_off[i],
                                 co->co_off[i + 1] - co->co_off[i], ar, &ev, &err) != 0;
    }
    return bad;
}

static int jd_bench_micro_decode(const jd_config_t *cf, size_t n, int reps)
{
    jd_bench_corpus_t co;
    jd_bench_json_t js;
    jd_arena_t ar;
    jd_decoder_t *dec = jd_bench_decoder(cf);
    double best = 1e30, *ns = calloc((size_t)reps, sizeof *ns);
    size_t bad = 0, batch = (size_t)cf->cf_batch_size;

    if (!dec || !ns || jd_bench_corpus_build(&co, cf, n)) {
        fprintf(stderr, "bench micro: decode set-up failed\n");
        return 1;
    }
    jd_arena_init(&ar, 256 * 1024);
    jd_bench_decode_pass(dec, &co, &ar, batch); /* warm-up: arena, caches */
    uint64_t m0 = JD_BENCH_MALLOCS();
    for (int r = 0; r < reps; r++) {
        double t0 = jd_bench_now();
        bad += jd_bench_decode_pass(dec, &co, &ar, batch);
        ns[r] = (jd_bench_now() - t0) * 1e9 / (double)co.co_n;
        best = ns[r] < best ? ns[r] : best;
    }
    uint64_t mallocs = JD_BENCH_MALLOCS() - m0;
    double med = jd_bench_quantile(ns, (size_t)reps, 0.5);
    jd_bench_json_begin(&js, "micro_decode", "");
    jd_bench_json_int(&js, "events", (long long)co.co_n);
    jd_bench_json_num(&js, "bytes_per_event", (double)co.co_off[co.co_n] / (double)co.co_n);
    jd_bench_json_num(&js, "ns_per_event", med);
    jd_bench_json_num(&js, "ns_per_event_best", best);
    jd_bench_json_num(&js, "events_per_s_one_core", 1e9 / med);
#ifdef JD_BENCH_COUNT_MALLOC
    jd_bench_json_num(&js, "mallocs_per_event", (double)mallocs / ((double)co.co_n * reps));
#else
    (void)mallocs;
    jd_bench_json_num(&js, "mallocs_per_event", -1);
#endif
    jd_bench_json_int(&js, "decode_errors", (long long)bad);
    jd_bench_json_end(&js);
    jd_arena_destroy(&ar);
    jd_decoder_destroy(dec);
    free(co.co_data);
    free(co.co_off);
    free(ns);
    return bad ? 1 : 0;
}

/* ---- rules ---------------------------------------------------------------- */

/* Sets signal `name` when this build has it (the signal table grows). */
static void jd_bench_sig(jd_signals_t *sg, const char *name, double v)
{
    int id = jd_signals_lookup(name, strlen(name));
    if (id >= 0)
        jd_signals_set_num(sg, (jd_signal_id_t)id, v);
}

/* Signals of synthetic account i, set through the public setters: a spread
 * of utilizations, ages, renewal distances and first values, so every
 * default rule takes both branches. */
static void jd_bench_signals(jd_signals_t *sg, size_t i)
{
    const double t = 1793491200000.0 + (double)i * 1000, day = 86400000.0;
    double seats = 10 + (double)(i % 40), u28 = (double)(i % 50);
    int id;
    jd_signals_clear(sg);
    jd_bench_sig(sg, "as_of", t);
    jd_bench_sig(sg, "last_event_at", t);
    jd_bench_sig(sg, "active_users_28d", u28);
    jd_bench_sig(sg, "active_users_7d", u28 * 3 / 4);
    jd_bench_sig(sg, "active_users_1d", u28 / 3);
    jd_bench_sig(sg, "seats", seats);
    jd_bench_sig(sg, "utilization", u28 / seats);
    jd_bench_sig(sg, "start_at", t - (double)(i % 90) * day);
    jd_bench_sig(sg, "days_since_start", (double)(i % 90));
    if (i % 10) {
        jd_bench_sig(sg, "first_value_at", t - (double)(i % 90) * day + day);
        jd_bench_sig(sg, "ttfv_days", 1);
    }
    jd_bench_sig(sg, "renewal_at", t + (double)(i % 300) * day);
    jd_bench_sig(sg, "days_to_renewal", (double)(i % 300));
    if ((id = jd_signals_lookup("segment", 7)) >= 0)
        jd_signals_set_str(sg, (jd_signal_id_t)id, i % 3 ? "smb" : "enterprise");
}

typedef struct jd_bench_rules {
    const jd_ruleset_t *br_rs;
    size_t              br_n, br_rules;
    jd_signals_t       *br_sg;
    jd_rule_state_t    *br_st;
    unsigned char      *br_changed;
    jd_trigger_t       *br_out;
    char              **br_acct;
} jd_bench_rules_t;

/* One pass of jd_rules_decide over every account; returns triggers. */
static size_t jd_bench_rules_pass(jd_bench_rules_t *br)
{
    size_t fired = 0;
    for (size_t i = 0; i < br->br_n; i++)
        fired += jd_rules_decide(br->br_rs, br->br_acct[i], &br->br_sg[i],
                                 &br->br_st[i * br->br_rules], &br->br_changed[i * br->br_rules],
                                 br->br_out, br->br_rules);
    return fired;
}

static void jd_bench_rules_fill(jd_bench_rules_t *br)
{
    for (size_t i = 0; i < br->br_n; i++) {
        br->br_acct[i] = malloc(32);
        if (br->br_acct[i])
            snprintf(br->br_acct[i], 32, "acct-%06zu", i);
        jd_bench_signals(&br->br_sg[i], i);
    }
}

static int jd_bench_micro_rules(const jd_ruleset_t *rs, size_t n, int reps)
{
    jd_bench_rules_t br = {rs, n, jd_rules_count(rs), NULL, NULL, NULL, NULL, NULL};
    jd_bench_json_t js;
    br.br_sg = calloc(n, sizeof *br.br_sg);
    br.br_st = calloc(n * br.br_rules, sizeof *br.br_st);
    br.br_changed = calloc(n * br.br_rules, 1);
    br.br_out = calloc(br.br_rules, sizeof *br.br_out);
    br.br_acct = calloc(n, sizeof *br.br_acct);
    if (!br.br_sg || !br.br_st || !br.br_changed || !br.br_out || !br.br_acct)
        return 1;
    jd_bench_rules_fill(&br);
    double t0 = jd_bench_now();
    size_t fired = jd_bench_rules_pass(&br);
    double first_ns = (jd_bench_now() - t0) * 1e9 / (double)n;
    double *ns = calloc((size_t)reps, sizeof *ns);
    for (int r = 0; ns && r < reps; r++) {
        t0 = jd_bench_now();
        jd_bench_rules_pass(&br);
        ns[r] = (jd_bench_now() - t0) * 1e9 / (double)n;
    }
    jd_bench_json_begin(&js, "micro_rules", "");
    jd_bench_json_int(&js, "accounts", (long long)n);
    jd_bench_json_int(&js, "rules", (long long)br.br_rules);
    jd_bench_json_num(&js, "firing_pass_ns_per_account", first_ns);
    jd_bench_json_num(&js, "fired_per_account", (double)fired / (double)n);
    jd_bench_json_num(&js, "steady_ns_per_account", ns ? jd_bench_quantile(ns, (size_t)reps, 0.5) : 0);
    jd_bench_json_end(&js);
    for (size_t i = 0; i < n; i++)
        free(br.br_acct[i]);
    free(br.br_acct);
    free(br.br_sg);
    free(br.br_st);
    free(br.br_changed);
    free(br.br_out);
    free(ns);
    return fired ? 0 : 1;
}

static int jd_bench_micro_all(jd_cli_t *cli, jd_ruleset_t *rs)
{
    int smoke = jd_bench_m_smoke != NULL, rc = 0;
    long long events = jd_bench_m_events ? jd_cli_number("events", jd_bench_m_events)
                                         : smoke ? 2000 : 200000;
    long long days = jd_bench_m_days ? jd_cli_number("days", jd_bench_m_days) : 30;
    if (events < 1 || days < 1)
        return 2;
    if (jd_bench_m_want("decode"))
        rc |= jd_bench_micro_decode(cli->cl_cf, (size_t)events, smoke ? 2 : 7);
    if (jd_bench_m_want("mapped"))
        rc |= jd_bench_micro_mapped(smoke ? 2000 : (size_t)events / 2, smoke ? 2 : 7);
    if (jd_bench_m_want("rules"))
        rc |= jd_bench_micro_rules(rs, smoke ? 200 : 10000, smoke ? 2 : 7);
    if (jd_bench_m_want("engine"))
        rc |= jd_bench_micro_engine(cli->cl_cf, rs, smoke ? 200 : 10000, (int)days,
                                    smoke ? (size_t)5000 : (size_t)events * 2);
    return rc;
}

int main(int argc, char **argv)
{
    jd_cli_t cli;
    jd_ruleset_t *rs = NULL;
    int rc = 2;
    if (jd_cli_parse(&cli, "bench micro", argc - 1, argv + 1, jd_bench_m_flags,
                     JD_BENCH_M_NFLAGS))
        return 2;
    if (cli.cl_help) {
        jd_cli_usage("bench micro", "[options]",
                     "Micro-benchmarks: decode, mapped decode, rules, the state engine's per-event step.",
                     jd_bench_m_flags, JD_BENCH_M_NFLAGS);
        return 0;
    }
    if (!jd_cli_config(&cli) && (rs = jd_cli_rules(&cli)))
        rc = jd_bench_micro_all(&cli, rs);
    jd_rules_destroy(rs);
    jd_cli_free(&cli);
    return rc;
}
