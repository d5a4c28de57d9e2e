/*
 * test_record: the stored form of an account record, pure.
 *
 * decode(encode(ac)) must encode to the same bytes, derive the same
 * signals and move on under further events exactly as the original; a
 * record of another version, every truncation and random corruption is
 * refused (or, for corruption, decodes to a record that works) without a
 * crash. The simulator's 60-day accounts give the size of a stored record.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account_tev.h"
#include "jd_record.h"
#include "jd_sim.h"

TestSuite(record, .init = tev_setup);

/* ---- helpers -------------------------------------------------------------- */

static void encode(const jd_account_t *ac, jd_buf_t *b)
{
    jd_err_t err;
    cr_assert_eq(jd_record_encode(ac, b, &err), 0, "%s", err.err_msg);
}

static jd_account_t *decode_ok(const jd_buf_t *b)
{
    jd_err_t err;
    jd_account_t *ac = jd_record_decode(b->b_data, b->b_len, g_cf.acf_lateness_days, &err);
    cr_assert(ac, "decode: %s", err.err_msg);
    return ac;
}

static void assert_same_bytes(const jd_buf_t *a, const jd_buf_t *b)
{
    cr_assert_eq(a->b_len, b->b_len, "lengths %zu, %zu", a->b_len, b->b_len);
    cr_assert_eq(memcmp(a->b_data, b->b_data, a->b_len), 0);
}

static void assert_same_value(const jd_value_t *a, const jd_value_t *b, int id)
{
    cr_assert_eq(a->type, b->type, "signal %d: type", id);
    if (a->type == JD_VAL_STR)
        cr_assert_str_eq(a->str, b->str, "signal %d", id);
    else if (a->type != JD_VAL_NULL)
        cr_assert(a->num == b->num || (isnan(a->num) && isnan(b->num)),
                  "signal %d: %.17g != %.17g", id, a->num, b->num);
}

static void assert_same_signals(const jd_account_t *a, const jd_account_t *b,
                                int64_t at_ms)
{
    static jd_signals_t sa, sb;
    static char ja[16384], jb[16384];
    jd_account_signals(a, &g_cf, at_ms, &sa);
    jd_account_signals(b, &g_cf, at_ms, &sb);
    for (int i = 0; i < JD_SIG__COUNT; i++)
        assert_same_value(&sa.sg_val[i], &sb.sg_val[i], i);
    jd_signals_to_json(&sa, "acme", ja, sizeof ja);
    jd_signals_to_json(&sb, "acme", jb, sizeof jb);
    cr_assert_str_eq(ja, jb);
}

/* Rule states, positions and a stored stage, as the pipeline sets them. */
static void random_extras(jd_account_t *ac)
{
    for (int i = 0; i < 6; i++) {
        jd_rule_state_t rs = {(int)(rnd() % 2), (int64_t)(rnd() % 100000),
                              T0 + (int64_t)(rnd() % 1000), rnd() % 9,
                              (int64_t)(rnd() % 50)};
        cr_assert_eq(jd_account_rule_set(ac, rnd(), &rs), 0);
    }
    for (int p = 0; p < 3; p++)
        cr_assert_eq(jd_account_position_set(ac, jd_account_hash("events"), p,
                                             (int64_t)(rnd() % 100000)), 0);
    jd_signals_change_t ch = {0};
    ch.ch_stage = 1;
    ch.ch_stage_name = "adoption";
    ch.ch_previous = "activation";
    ch.ch_at = T0 + 5 * DAY;
    ch.ch_seq = 3;
    ch.ch_healthy_adoption = 1;
    jd_account_observe(ac, &ch);
    ac->ac_timer_at = T0 + 200 * DAY;
    ac->ac_rules_at = ac->ac_as_of;
    ac->ac_epoch = rnd();
}

static jd_account_t *rich_account(int events)
{
    jd_account_t *ac = jd_account_new("acme");
    for (int i = 0; i < events; i++) {
        tev_t t;
        random_event(&t, i);
        cr_assert(jd_account_apply(ac, &g_cf, &t.ev) >= 0);
    }
    random_extras(ac);
    return ac;
}

/* ---- round trips ----------------------------------------------------------- */

Test(record, empty_round_trip)
{
    jd_account_t *ac = jd_account_new("acme"), *back;
    jd_buf_t a = {0}, b = {0};
    ac->ac_epoch = UINT64_C(0x0102030405060708);
    encode(ac, &a);
    cr_assert_eq(a.b_data[0], JD_RECORD_VERSION);
    cr_assert_eq(a.b_data[1], 1);
    cr_assert_eq(a.b_data[8], 8);
    cr_assert_eq(jd_record_epoch(a.b_data, a.b_len), ac->ac_epoch);
    cr_assert_eq(jd_record_epoch(a.b_data, JD_RECORD_HEAD - 1), 0);
    back = decode_ok(&a);
    cr_assert_eq(back->ac_epoch, ac->ac_epoch);
    cr_assert_eq(back->ac_win_day, INT64_MIN);
    cr_assert_str_eq(back->ac_id, "acme");
    encode(back, &b);
    assert_same_bytes(&a, &b);
    assert_same_signals(ac, back, JD_SIGNALS_NO_TS);
    cr_log_info("empty record: %zu bytes", a.b_len);
    jd_account_destroy(ac);
    jd_account_destroy(back);
    jd_buf_free(&a);
    jd_buf_free(&b);
}

/* The original and its decoded copy take the same further events. */
static void assert_same_future(jd_account_t *ac, jd_account_t *back, int from)
{
    jd_buf_t a = {0}, b = {0};
    for (int i = from; i < from + 150; i++) {
        tev_t t;
        random_event(&t, i);
        cr_assert_eq(jd_account_apply(ac, &g_cf, &t.ev),
                     jd_account_apply(back, &g_cf, &t.ev));
    }
    cr_assert_eq(back->ac_win_day, ac->ac_win_day);
    cr_assert_eq(memcmp(back->ac_win, ac->ac_win, sizeof ac->ac_win), 0);
    cr_assert_eq(back->ac_nps_cnt, ac->ac_nps_cnt);
    encode(ac, &a);
    encode(back, &b);
    assert_same_bytes(&a, &b);
    assert_same_signals(ac, back, JD_SIGNALS_NO_TS);
    jd_buf_free(&a);
    jd_buf_free(&b);
}

/* Days of [D-L+1, D] have their ids, earlier ones only their counts.
 * Returns the number of sealed days. */
static uint32_t assert_days_kept(const jd_account_t *ac)
{
    int64_t open = jd_window_day(ac->ac_as_of) - g_cf.acf_lateness_days + 1;
    uint32_t sealed = 0;
    for (uint32_t i = 0; i < ac->ac_ndays; i++) {
        const jd_day_t *dy = &ac->ac_days[i];
        cr_assert_eq(dy->dy_sealed, dy->dy_day < open);
        cr_assert(!dy->dy_sealed || (dy->dy_n == 0 && dy->dy_usage > 0));
        sealed += dy->dy_sealed;
    }
    return sealed;
}

Test(record, rich_round_trip)
{
    uint32_t sealed = 0, days = 0;
    for (int round = 0; round < 30; round++) {
        jd_account_t *ac = rich_account(100 + 20 * round), *back;
        jd_buf_t a = {0}, b = {0};
        encode(ac, &a);
        back = decode_ok(&a);
        encode(back, &b);
        assert_same_bytes(&a, &b);
        assert_same_signals(ac, back, JD_SIGNALS_NO_TS);
        assert_same_signals(ac, back, T0 + 40 * DAY);
        sealed += assert_days_kept(back);
        days += back->ac_ndays;
        cr_assert_eq(jd_record_epoch(a.b_data, a.b_len), ac->ac_epoch);
        assert_same_future(ac, back, 100000 + 1000 * round);
        jd_account_destroy(ac);
        jd_account_destroy(back);
        jd_buf_free(&a);
        jd_buf_free(&b);
    }
    cr_assert(sealed > 0 && sealed < days, "%u of %u days sealed", sealed, days);
}

/* ---- refusals ----------------------------------------------------------------- */

Test(record, other_version_refused)
{
    jd_account_t *ac = jd_account_new("acme");
    jd_buf_t a = {0};
    jd_err_t err;
    encode(ac, &a);
    cr_assert_eq(a.b_data[0], 2);
    a.b_data[0] = 3;
    cr_assert_null(jd_record_decode(a.b_data, a.b_len, g_cf.acf_lateness_days, &err));
    cr_assert_eq(err.err_class, JD_ERR_FATAL);
    cr_assert_eq(err.err_code, JD_E_MALFORMED);
    cr_assert(strstr(err.err_msg, "version 3") && strstr(err.err_msg, "version 2"),
              "%s", err.err_msg);
    a.b_data[0] = 0;
    cr_assert_null(jd_record_decode(a.b_data, a.b_len, g_cf.acf_lateness_days, &err));
    cr_assert(strstr(err.err_msg, "version 0"), "%s", err.err_msg);
    jd_account_destroy(ac);
    jd_buf_free(&a);
}

Test(record, trailing_bytes_refused)
{
    jd_account_t *ac = rich_account(200);
    jd_buf_t a = {0};
    jd_err_t err;
    encode(ac, &a);
    unsigned char *p = malloc(a.b_len + 1);
    memcpy(p, a.b_data, a.b_len);
    p[a.b_len] = 0;
    cr_assert_null(jd_record_decode(p, a.b_len + 1, g_cf.acf_lateness_days, &err));
    cr_assert(strstr(err.err_msg, "trailing"), "%s", err.err_msg);
    free(p);
    jd_account_destroy(ac);
    jd_buf_free(&a);
}

Test(record, every_truncation_refused)
{
    jd_account_t *ac = rich_account(300);
    jd_buf_t a = {0};
    jd_err_t err;
    encode(ac, &a);
    for (size_t n = 0; n < a.b_len; n++) {
        /* a copy of exactly n bytes, so ASan sees any over-read */
        unsigned char *p = malloc(n ? n : 1);
        memcpy(p, a.b_data, n);
        cr_assert_null(jd_record_decode(p, n, g_cf.acf_lateness_days, &err),
                       "prefix %zu decoded", n);
        cr_assert_eq(err.err_code, JD_E_MALFORMED, "prefix %zu: %s", n, err.err_msg);
        free(p);
    }
    jd_account_destroy(ac);
    jd_buf_free(&a);
}

Test(record, huge_count_refused)
{
    jd_account_t *ac = jd_account_new("acme");
    jd_buf_t a = {0};
    jd_err_t err;
    encode(ac, &a);
    /* 9 head, 5 id, 10 instants of 10 bytes, 8 last-writer-wins of 2 */
    size_t at = 9 + 5 + 100 + 16;
    cr_assert_eq(a.b_data[at], 0, "layout moved: fix the offset");
    unsigned char *p = malloc(a.b_len + 4);
    memcpy(p, a.b_data, at);
    memcpy(p + at, "\xff\xff\xff\xff\x0f", 5); /* 2^32 - 1 cases */
    memcpy(p + at + 5, a.b_data + at + 1, a.b_len - at - 1);
    cr_assert_null(jd_record_decode(p, a.b_len + 4, g_cf.acf_lateness_days, &err));
    cr_assert(strstr(err.err_msg, "count"), "%s", err.err_msg);
    free(p);
    jd_account_destroy(ac);
    jd_buf_free(&a);
}

/* Found by fuzz_record: a day claiming more usage ids than ids was read
 * past its array (version 2: day 0, usage 2, one id). */
Test(record, day_with_more_usage_ids_than_ids_refused)
{
    jd_account_t *ac = jd_account_new("acme");
    jd_buf_t a = {0};
    jd_err_t err;
    encode(ac, &a);
    /* ... then 3 case fields and 3 activity counts: the day count */
    size_t at = 9 + 5 + 100 + 16 + 3 + 3;
    static const unsigned char day[] = {1, 0, 2, 2, 1, 2, 3, 4, 5, 6, 7, 8};
    cr_assert_eq(a.b_data[at], 0, "layout moved: fix the offset");
    unsigned char *p = malloc(a.b_len + sizeof day);
    memcpy(p, a.b_data, at);
    memcpy(p + at, day, sizeof day);
    memcpy(p + at + sizeof day, a.b_data + at + 1, a.b_len - at - 1);
    cr_assert_null(jd_record_decode(p, a.b_len + sizeof day - 1, g_cf.acf_lateness_days,
                                    &err));
    cr_assert(strstr(err.err_msg, "more usage ids"), "%s", err.err_msg);
    free(p);
    jd_account_destroy(ac);
    jd_buf_free(&a);
}

/* ---- version 1 ------------------------------------------------------------------ */

/* A version 1 record written by hand from docs/state.md: varints, zig-zag
 * for signed ones, hashes 8 bytes little-endian. */
typedef struct v1buf {
    unsigned char b_data[512];
    size_t        b_len;
} v1buf_t;

static void v1_put(v1buf_t *b, const void *p, size_t n)
{
    cr_assert_leq(b->b_len + n, sizeof b->b_data);
    memcpy(b->b_data + b->b_len, p, n);
    b->b_len += n;
}

static void v1_u(v1buf_t *b, uint64_t v)
{
    do {
        unsigned char c = (unsigned char)(v & 0x7f);
        v >>= 7;
        c |= v ? 0x80 : 0;
        v1_put(b, &c, 1);
    } while (v);
}

static void v1_s(v1buf_t *b, int64_t v)
{
    v1_u(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void v1_h(v1buf_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        unsigned char c = (unsigned char)(v >> (8 * i));
        v1_put(b, &c, 1);
    }
}

#define V1_AS_OF (T0 + 40 * DAY + 5 * 3600000)

/* Account acme, as of V1_AS_OF (day D), with usage on D-10 (ids 1, 2 and
 * the other id 3), D-3 (id 4) and D (ids 5, 6). */
static void v1_record(v1buf_t *b)
{
    static const unsigned char head[JD_RECORD_HEAD] = {1, 0, 0, 0, 0, 0, 0, 0, 9};
    int64_t d = jd_window_day(V1_AS_OF);
    b->b_len = 0;
    v1_put(b, head, sizeof head);
    v1_u(b, 4);
    v1_put(b, "acme", 4);
    for (int i = 0; i < 10; i++)   /* as-of, milestones, latest-of */
        v1_s(b, i == 0 || i == 7 || i == 8 ? V1_AS_OF : JD_SIGNALS_NO_TS);
    for (int k = 0; k < JD_LWW__COUNT; k++) {
        v1_u(b, 0);                /* no flags */
        v1_s(b, 0);
    }
    v1_u(b, 0);                    /* cases, open, sev1 open */
    v1_s(b, 0);
    v1_s(b, 0);
    for (int i = 0; i < 3; i++)    /* users, features, opened cases */
        v1_u(b, 0);
    v1_u(b, 3);                    /* days: day, usage ids, ids, the ids */
    v1_s(b, d - 10), v1_u(b, 2), v1_u(b, 3), v1_h(b, 1), v1_h(b, 2), v1_h(b, 3);
    v1_s(b, d - 3), v1_u(b, 1), v1_u(b, 1), v1_h(b, 4);
    v1_s(b, d), v1_u(b, 2), v1_u(b, 2), v1_h(b, 5), v1_h(b, 6);
    v1_u(b, 0);                    /* NPS answers, rules */
    v1_u(b, 0);
    v1_s(b, -1), v1_s(b, -1), v1_s(b, JD_SIGNALS_NO_TS);  /* stage */
    v1_s(b, 0), v1_s(b, 0), v1_s(b, JD_SIGNALS_NO_TS), v1_u(b, 0);
}

Test(record, version_1_decodes)
{
    v1buf_t v1;
    jd_buf_t a = {0}, b = {0};
    jd_err_t err;
    int64_t d = jd_window_day(V1_AS_OF);
    v1_record(&v1);
    jd_account_t *ac = jd_record_decode(v1.b_data, v1.b_len, 7, &err);
    cr_assert(ac, "%s", err.err_msg);
    cr_assert_eq(ac->ac_epoch, 9);
    cr_assert_eq(ac->ac_as_of, V1_AS_OF);
    cr_assert_eq(ac->ac_ndays, 3);
    cr_assert(ac->ac_days[0].dy_day == d - 10 && ac->ac_days[0].dy_sealed &&
              ac->ac_days[0].dy_usage == 2 && ac->ac_days[0].dy_n == 0 &&
              !ac->ac_days[0].dy_ids);
    cr_assert(ac->ac_days[1].dy_day == d - 3 && !ac->ac_days[1].dy_sealed &&
              ac->ac_days[1].dy_usage == 1 && ac->ac_days[1].dy_n == 1 &&
              ac->ac_days[1].dy_ids[0] == 4);
    cr_assert(ac->ac_days[2].dy_n == 2 && ac->ac_days[2].dy_ids[1] == 6);
    jd_signals_t sg;
    jd_account_signals(ac, &g_cf, JD_SIGNALS_NO_TS, &sg);
    cr_assert_eq(sg.sg_val[JD_SIG_EVENTS_7D].num, 3);
    cr_assert_eq(sg.sg_val[JD_SIG_EVENTS_28D].num, 5);
    cr_assert_eq(sg.sg_val[JD_SIG_DAYS_ACTIVE_28D].num, 3);
    /* it is written as version 2, and reads back the same */
    encode(ac, &a);
    cr_assert_eq(a.b_data[0], JD_RECORD_VERSION);
    jd_account_t *back = decode_ok(&a);
    encode(back, &b);
    assert_same_bytes(&a, &b);
    assert_same_signals(ac, back, JD_SIGNALS_NO_TS);
    cr_assert_lt(a.b_len, v1.b_len);
    jd_account_destroy(back);
    jd_account_destroy(ac);
    /* with L = 35 every day keeps its ids */
    ac = jd_record_decode(v1.b_data, v1.b_len, 35, &err);
    cr_assert(ac, "%s", err.err_msg);
    cr_assert(!ac->ac_days[0].dy_sealed && ac->ac_days[0].dy_n == 3 &&
              ac->ac_days[0].dy_usage == 2 && ac->ac_days[0].dy_ids[2] == 3);
    jd_account_destroy(ac);
    jd_buf_free(&a);
    jd_buf_free(&b);
}

Test(record, version_1_truncations_refused)
{
    v1buf_t v1;
    jd_err_t err;
    v1_record(&v1);
    for (size_t n = 0; n < v1.b_len; n++) {
        unsigned char *p = malloc(n ? n : 1);
        memcpy(p, v1.b_data, n);
        cr_assert_null(jd_record_decode(p, n, 7, &err), "prefix %zu decoded", n);
        cr_assert_eq(err.err_code, JD_E_MALFORMED, "prefix %zu: %s", n, err.err_msg);
        free(p);
    }
}

/* Flipped bytes: refused, or a record that encodes, decodes and works. */
Test(record, random_flips_never_crash)
{
    jd_account_t *ac = rich_account(250);
    jd_buf_t a = {0}, b = {0};
    jd_err_t err;
    size_t decoded = 0;
    encode(ac, &a);
    unsigned char *p = malloc(a.b_len);
    for (int i = 0; i < 20000; i++) {
        memcpy(p, a.b_data, a.b_len);
        for (int k = 0; k < 1 + (int)(rnd() % 3); k++)
            p[rnd() % a.b_len] ^= (unsigned char)(1 + rnd() % 255);
        jd_account_t *x = jd_record_decode(p, a.b_len, g_cf.acf_lateness_days, &err);
        if (!x) {
            cr_assert_eq(err.err_class, JD_ERR_FATAL);
            continue;
        }
        decoded++;
        encode(x, &b);
        jd_account_t *y = decode_ok(&b);
        tev_t t;
        random_event(&t, i);
        jd_account_apply(y, &g_cf, &t.ev);
        assert_same_signals(x, x, JD_SIGNALS_NO_TS);
        jd_account_destroy(x);
        jd_account_destroy(y);
    }
    cr_log_info("random flips: %zu of 20000 still decoded", decoded);
    free(p);
    jd_account_destroy(ac);
    jd_buf_free(&a);
    jd_buf_free(&b);
}

/* ---- size of a simulated account ------------------------------------------------ */

#define SIM_ACCOUNTS 40

static jd_account_t *sim_account(jd_account_t **acs, int *n, const char *id)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(acs[i]->ac_id, id) == 0)
            return acs[i];
    cr_assert_lt(*n, SIM_ACCOUNTS);
    return acs[(*n)++] = jd_account_new(id);
}

static int size_cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

Test(record, simulated_60_days_size)
{
    static const char *const sim_core[] = {"dashboards", "reports.export", "alerts",
                                           "integrations.salesforce", "workflows", "api"};
    jd_account_t *acs[SIM_ACCOUNTS];
    size_t sizes[SIM_ACCOUNTS], total = 0;
    int n = 0;
    jd_sim_conf_t sc;
    jd_arena_t ar;
    jd_event_t ev;
    jd_buf_t a = {0}, b = {0};
    g_cf.acf_power_user_days = 8; /* the configuration defaults */
    g_cf.acf_core_features = sim_core;
    g_cf.acf_core_cnt = 6;
    g_cf.acf_value_cnt = 0;
    jd_account_conf_ready(&g_cf);
    jd_sim_conf_default(&sc);
    sc.sm_accounts = SIM_ACCOUNTS;
    jd_sim_t *sim = jd_sim_new(&sc);
    jd_arena_init(&ar, 0);
    while (jd_sim_next(sim, &ev, &ar) == 1) {
        cr_assert(jd_account_apply(sim_account(acs, &n, ev.ev_account), &g_cf, &ev) >= 0);
        jd_arena_reset(&ar);
    }
    for (int i = 0; i < n; i++) {
        encode(acs[i], &a);
        jd_account_t *back = decode_ok(&a);
        encode(back, &b);
        assert_same_bytes(&a, &b);
        assert_same_signals(acs[i], back, JD_SIGNALS_NO_TS);
        sizes[i] = a.b_len;
        total += a.b_len;
        jd_account_destroy(back);
        jd_account_destroy(acs[i]);
    }
    qsort(sizes, (size_t)n, sizeof sizes[0], size_cmp);
    printf("record sizes, %d simulated accounts over 60 days (%llu events): "
           "min %zu, median %zu, mean %zu, max %zu bytes\n", n,
           (unsigned long long)jd_sim_count(sim), sizes[0], sizes[n / 2],
           total / (size_t)n, sizes[n - 1]);
    jd_sim_destroy(sim);
    jd_arena_destroy(&ar);
    jd_buf_free(&a);
    jd_buf_free(&b);
}
