/*
 * The simulator: deterministic for a seed, events in event-time order,
 * every archetype's shape present, and every event encodes and decodes.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "jd_codec.h"
#include "jd_sim.h"

static uint64_t digest(const jd_sim_conf_t *c, uint64_t *count)
{
    jd_sim_t *sim = jd_sim_new(c);
    jd_arena_t ar;
    jd_event_t ev;
    uint64_t h = 1469598103934665603ULL;
    int64_t prev = 0;
    jd_arena_init(&ar, 0);
    while (jd_sim_next(sim, &ev, &ar) == 1) {
        cr_assert_geq(ev.ev_occurred_at, prev, "events out of order");
        prev = ev.ev_occurred_at;
        for (const char *p = ev.ev_id; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        h ^= (uint64_t)ev.ev_occurred_at;
        jd_arena_reset(&ar);
    }
    *count = jd_sim_count(sim);
    jd_arena_destroy(&ar);
    jd_sim_destroy(sim);
    return h;
}

Test(sim, deterministic_per_seed)
{
    jd_sim_conf_t c;
    uint64_t n1, n2, n3;
    jd_sim_conf_default(&c);
    c.sm_accounts = 20;
    c.sm_days = 30;
    uint64_t a = digest(&c, &n1), b = digest(&c, &n2);
    cr_assert_eq(a, b);
    cr_assert_eq(n1, n2);
    cr_assert_gt(n1, 1000);
    c.sm_seed = 7;
    cr_assert_neq(digest(&c, &n3), a);
}

Test(sim, events_encode_and_decode)
{
    jd_sim_conf_t c;
    jd_err_t err;
    jd_arena_t ar, ar2;
    jd_event_t ev, back;
    jd_buf_t buf = {0};
    int kinds[JD_EV__COUNT] = {0};
    jd_sim_conf_default(&c);
    c.sm_accounts = 10;
    c.sm_days = 50;
    jd_sim_t *sim = jd_sim_new(&c);
    jd_encoder_t *enc = jd_encoder_new(&err);
    jd_limits_t lim;
    jd_limits_default(&lim);
    jd_decoder_t *dec = jd_decoder_new(JD_WIRE_AUTO, &lim, &err);
    cr_assert(enc && dec, "%s", err.err_msg);
    cr_assert_eq(jd_decoder_add_schema(dec, 1, jd_codec_product_schema_json(), &err), 0);
    jd_arena_init(&ar, 0);
    jd_arena_init(&ar2, 0);
    while (jd_sim_next(sim, &ev, &ar) == 1) {
        cr_assert_eq(jd_encoder_event(enc, &ev, 1, &buf, &err), 0, "%s", err.err_msg);
        cr_assert_eq(jd_decoder_decode(dec, buf.b_data, buf.b_len, &ar2, &back, &err), 0,
                     "%s", err.err_msg);
        cr_assert_str_eq(back.ev_id, ev.ev_id);
        cr_assert_str_eq(back.ev_account, ev.ev_account);
        cr_assert_eq(back.ev_occurred_at, ev.ev_occurred_at);
        cr_assert_eq(back.ev_attr_cnt, ev.ev_attr_cnt);
        kinds[back.ev_type]++;
        jd_arena_reset(&ar);
        jd_arena_reset(&ar2);
    }
    cr_assert_gt(kinds[JD_EV_LOGIN], 0);
    cr_assert_gt(kinds[JD_EV_FEATURE_USED], 0);
    cr_assert_eq(kinds[JD_EV_ACCOUNT_CREATED], 10);
    cr_assert_eq(kinds[JD_EV_ACCOUNT_UPDATED], 10);
    cr_assert_gt(kinds[JD_EV_FIRST_VALUE], 0);
    cr_assert_gt(kinds[JD_EV_UNKNOWN], 0);
    jd_buf_free(&buf);
    jd_arena_destroy(&ar);
    jd_arena_destroy(&ar2);
    jd_encoder_destroy(enc);
    jd_decoder_destroy(dec);
    jd_sim_destroy(sim);
}
