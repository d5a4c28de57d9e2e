/*
 * test_state_redis: jd_state against a real redis-server.
 *
 * Server: $JD_REDIS_SOCKET (unix socket) or $JD_REDIS_PORT (127.0.0.1) when
 * the test script exports one; otherwise every test starts its own
 * redis-server on a free loopback port as a child process (no persistence,
 * killed at the end, and by PR_SET_PDEATHSIG if the test itself dies), so
 * the suite never silently skips. Tests that must kill or freeze Redis
 * always start a private one. Each test uses its own key prefix
 * "jdt<pid>", so a shared server is fine (run with --jobs 1 for the
 * command-count test, which resets INFO stats). The harness is
 * tests/unit/redis_srv.h.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jd_state.h"
#include "redis_srv.h"
#include "jd_window.h"

#define DAY JD_WINDOW_DAY_MS
#define JSON_MAX 16384

static void setup(void)
{
    srv_setup("jdt");
}

TestSuite(state, .init = setup, .fini = srv_teardown, .timeout = 120);

/* ======================= helpers ======================= */

static const char *const g_value_features[] = {"export"};

static jd_state_t *state_on(const srv_t *s, const char *prefix, int timeout)
{
    jd_state_conf_t sc;
    jd_err_t err;

    jd_state_conf_default(&sc);
    sc.sc_port = s->port;
    sc.sc_unix_path = s->sock[0] ? s->sock : NULL;
    sc.sc_prefix = prefix;
    sc.sc_value_features = g_value_features;
    sc.sc_value_feature_cnt = 1;
    if (timeout)
        sc.sc_timeout_ms = timeout;
    jd_state_t *st = jd_state_new(&sc, &err);
    cr_assert_not_null(st, "jd_state_new: %s", err.err_msg);
    return st;
}

static jd_state_t *state_new(const char *suffix)
{
    char prefix[96];
    snprintf(prefix, sizeof prefix, "%s%s%s", g_prefix, *suffix ? "." : "",
             suffix);
    return state_on(&g_srv, prefix, 0);
}

static long long raw_int(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER, "%s: %s", fmt,
              r && r->str ? r->str : "no reply");
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static size_t count_keys(redisContext *c, const char *pattern)
{
    char cursor[32] = "0";
    size_t n = 0;
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor,
                                     pattern);
        cr_assert(r && r->type == REDIS_REPLY_ARRAY);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        n += r->element[1]->elements;
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return n;
}

static void key_of(char *buf, size_t cap, const char *prefix,
                   const char *account, const char *what)
{
    char tag[512];
    jd_state_key_tag(account, tag, sizeof tag);
    int n = snprintf(buf, cap, "%s:{%s}:%s", prefix, tag, what);
    cr_assert(n > 0 && (size_t)n < cap, "key too long");
}

/* A test event with its own string storage. Never copy one by value
 * without tev_fix(): the jd_event_t points into the struct itself. */
typedef struct tev {
    jd_event_t ev;
    char       account[64];
    char       id[48];
    char       user[48];
    char       feature[32];
    jd_attr_t  attrs[8];
    char       keys[8][32];
    char       vals[8][64];
} tev_t;

static void tev_fix(tev_t *t)
{
    t->ev.ev_account = t->account;
    t->ev.ev_id = t->id;
    t->ev.ev_user = t->user[0] ? t->user : NULL;
    t->ev.ev_feature = t->feature[0] ? t->feature : NULL;
    t->ev.ev_attrs = t->attrs;
    for (size_t i = 0; i < t->ev.ev_attr_cnt; i++) {
        t->attrs[i].at_key = t->keys[i];
        t->attrs[i].at_val = t->vals[i];
    }
}

static tev_t *tev_set(tev_t *t, const char *account, jd_event_type_t type,
                      const char *id, int64_t ms)
{
    memset(t, 0, sizeof *t);
    snprintf(t->account, sizeof t->account, "%s", account);
    snprintf(t->id, sizeof t->id, "%s", id);
    t->ev.ev_type = type;
    t->ev.ev_type_name = "test";
    t->ev.ev_occurred_at = ms;
    tev_fix(t);
    return t;
}

static tev_t *tev_user(tev_t *t, const char *user, const char *feature)
{
    snprintf(t->user, sizeof t->user, "%s", user ? user : "");
    snprintf(t->feature, sizeof t->feature, "%s", feature ? feature : "");
    tev_fix(t);
    return t;
}

static tev_t *tev_attr(tev_t *t, const char *k, const char *v)
{
    size_t i = t->ev.ev_attr_cnt++;
    snprintf(t->keys[i], sizeof t->keys[i], "%s", k);
    snprintf(t->vals[i], sizeof t->vals[i], "%s", v);
    tev_fix(t);
    return t;
}

typedef struct totals {
    size_t applied, dups, late, rejected;
} totals_t;

/* Applies evs (any accounts, in this order) as one batch, grouped by
 * account in order of first appearance. */
static totals_t apply_batch(jd_state_t *st, tev_t *const *evs, size_t n)
{
    jd_account_batch_t *abs = calloc(n ? n : 1, sizeof *abs);
    const jd_event_t **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    size_t na = 0, off = 0;
    totals_t tot = {0, 0, 0, 0};
    jd_err_t err;

    for (size_t i = 0; i < n; i++) {
        size_t a = 0;
        while (a < na && strcmp(abs[a].ab_account, evs[i]->account) != 0)
            a++;
        if (a == na)
            abs[na++].ab_account = evs[i]->account;
    }
    for (size_t a = 0; a < na; a++) {
        abs[a].ab_events = &ptrs[off];
        for (size_t i = 0; i < n; i++)
            if (strcmp(abs[a].ab_account, evs[i]->account) == 0)
                ptrs[off + abs[a].ab_event_cnt++] = &evs[i]->ev;
        off += abs[a].ab_event_cnt;
    }
    int rc = jd_state_apply(st, abs, na, NULL, 0, &err);
    cr_assert_eq(rc, 0, "apply: %s", err.err_msg);
    for (size_t a = 0; a < na; a++) {
        tot.applied += abs[a].ab_applied;
        tot.dups += abs[a].ab_duplicates;
        tot.late += abs[a].ab_late_dropped;
        tot.rejected += abs[a].ab_rejected;
        cr_assert_eq(abs[a].ab_applied + abs[a].ab_duplicates +
                     abs[a].ab_late_dropped + abs[a].ab_rejected,
                     abs[a].ab_event_cnt, "counts add up");
    }
    free(abs);
    free(ptrs);
    return tot;
}

static totals_t apply_one(jd_state_t *st, tev_t *t)
{
    return apply_batch(st, &t, 1);
}

static void inspect(jd_state_t *st, const char *account, jd_signals_t *sg)
{
    jd_err_t err;
    int rc = jd_state_inspect(st, account, sg, &err);
    cr_assert_eq(rc, 0, "inspect %s: %s", account, err.err_msg);
}

static void inspect_json(jd_state_t *st, const char *account, char *buf)
{
    jd_signals_t sg;
    inspect(st, account, &sg);
    cr_assert_lt(jd_signals_to_json(&sg, account, buf, JSON_MAX), JSON_MAX);
}

static double sig_num(const jd_signals_t *sg, jd_signal_id_t id)
{
    cr_assert_eq(sg->sg_val[id].type, JD_VAL_NUM, "%s not a number",
                 jd_signals_name(id));
    return sg->sg_val[id].num;
}

static int sig_null(const jd_signals_t *sg, jd_signal_id_t id)
{
    return sg->sg_val[id].type == JD_VAL_NULL;
}

/* a day well inside 2000..2100 */
static int64_t base_day(void)
{
    return jd_window_days_from_civil(2024, 5, 1);
}

/* ======================= windows, retention, duplicates ======================= */

Test(state, windows_across_days)
{
    jd_state_t *st = state_new("");
    int64_t D = base_day() + 40, T = D * DAY + DAY / 2;
    tev_t ev[10];
    tev_t *b[9];
    jd_signals_t sg;

    b[0] = tev_user(tev_set(&ev[0], "acme", JD_EV_LOGIN, "e1", (D - 30) * DAY + 3600000), "u1", NULL);
    b[1] = tev_user(tev_set(&ev[1], "acme", JD_EV_FEATURE_USED, "e2", (D - 20) * DAY), "u2", "report");
    b[2] = tev_user(tev_set(&ev[2], "acme", JD_EV_LOGIN, "e3", (D - 6) * DAY), "u3", NULL);
    b[3] = tev_user(tev_set(&ev[3], "acme", JD_EV_LOGIN, "e4", (D - 6) * DAY - 1), "u1", NULL);
    b[4] = tev_user(tev_set(&ev[4], "acme", JD_EV_FEATURE_USED, "e5", (D - 1) * DAY), "u4", "x");
    b[5] = tev_user(tev_set(&ev[5], "acme", JD_EV_LOGIN, "e6", T), "u5", NULL);
    b[6] = tev_set(&ev[6], "acme", JD_EV_LOGIN, "e7", T - 1); /* no user */
    b[7] = tev_user(tev_set(&ev[7], "acme", JD_EV_FEATURE_USED, "e8", (D - 27) * DAY), "u6", "x");
    b[8] = tev_user(tev_set(&ev[8], "acme", JD_EV_FEATURE_USED, "e9", (D - 27) * DAY - 1), "u7", "x");

    totals_t tot = apply_batch(st, b, 9);
    cr_assert_eq(tot.applied, 9);
    cr_assert_eq(tot.dups + tot.late + tot.rejected, 0);
    inspect(st, "acme", &sg);
    cr_assert_eq(sig_num(&sg, JD_SIG_ACTIVE_USERS_1D), 1);  /* u5 */
    cr_assert_eq(sig_num(&sg, JD_SIG_ACTIVE_USERS_7D), 3);  /* u3 u4 u5 */
    cr_assert_eq(sig_num(&sg, JD_SIG_ACTIVE_USERS_28D), 6); /* + u1 u2 u6 */
    cr_assert_eq(sig_num(&sg, JD_SIG_AS_OF), (double)T);
    cr_assert_eq(sig_num(&sg, JD_SIG_LAST_EVENT_AT), (double)T);
    cr_assert(sig_null(&sg, JD_SIG_START_AT));
    cr_assert(sig_null(&sg, JD_SIG_SEATS) && sig_null(&sg, JD_SIG_UTILIZATION));

    /* ten days later the windows slide: [D+4, D+10] and [D-17, D+10] */
    apply_one(st, tev_user(tev_set(&ev[9], "acme", JD_EV_LOGIN, "e10",
                                   (D + 10) * DAY), "u8", NULL));
    inspect(st, "acme", &sg);
    cr_assert_eq(sig_num(&sg, JD_SIG_ACTIVE_USERS_1D), 1);
    cr_assert_eq(sig_num(&sg, JD_SIG_ACTIVE_USERS_7D), 1);
    cr_assert_eq(sig_num(&sg, JD_SIG_ACTIVE_USERS_28D), 5); /* u1 u3 u4 u5 u8 */
    jd_state_destroy(st);
}

Test(state, late_events_and_retention)
{
    jd_state_t *st = state_new("");
    redisContext *c = raw_connect(&g_srv);
    int64_t D = base_day() + 100;
    tev_t ev[8];
    tev_t *b[4];
    jd_signals_t sg;
    char key[256], pat[256], day[32];

    apply_one(st, tev_user(tev_set(&ev[0], "acme", JD_EV_LOGIN, "now", D * DAY), "u1", NULL));
    b[0] = tev_user(tev_set(&ev[1], "acme", JD_EV_LOGIN, "in", (D - 34) * DAY), "u2", NULL);
    b[1] = tev_user(tev_set(&ev[2], "acme", JD_EV_LOGIN, "out", (D - 34) * DAY - 1), "u3", NULL);
    b[2] = tev_user(tev_set(&ev[3], "acme", JD_EV_FEATURE_USED, "val", (D - 40) * DAY), "u4", "export");
    b[3] = tev_set(&ev[4], "acme", JD_EV_ACCOUNT_CREATED, "born", (D - 100) * DAY);
    totals_t tot = apply_batch(st, b, 4);
    cr_assert_eq(tot.applied, 2, "in-horizon login + old account_created");
    cr_assert_eq(tot.late, 2);
    inspect(st, "acme", &sg);
    cr_assert_eq(sig_num(&sg, JD_SIG_ACTIVE_USERS_28D), 1, "only u1 in 28d");
    cr_assert_eq(sig_num(&sg, JD_SIG_FIRST_VALUE_AT), (double)((D - 40) * DAY),
                 "a late value event still sets first_value_at");
    cr_assert_eq(sig_num(&sg, JD_SIG_START_AT), (double)((D - 100) * DAY));
    cr_assert_float_eq(sig_num(&sg, JD_SIG_TTFV_DAYS), 60.0, 1e-9);
    cr_assert_float_eq(sig_num(&sg, JD_SIG_DAYS_SINCE_START), 100.0, 1e-9);
    snprintf(day, sizeof day, "e:%lld", (long long)(D - 34));
    key_of(key, sizeof key, g_prefix, "acme", day);
    cr_assert_eq(raw_int(c, "EXISTS %s", key), 1, "day D-34 kept");
    snprintf(day, sizeof day, "e:%lld", (long long)(D - 35));
    key_of(key, sizeof key, g_prefix, "acme", day);
    cr_assert_eq(raw_int(c, "EXISTS %s", key), 0, "day D-35 never written");

    /* again: the in-horizon one is a duplicate, the late ones stay late */
    tot = apply_batch(st, b, 4);
    cr_assert_eq(tot.dups, 1);
    cr_assert_eq(tot.late, 2);
    cr_assert_eq(tot.applied, 1, "old non-usage events count as applied");

    /* D jumps 40 days: every older day key is deleted */
    apply_one(st, tev_user(tev_set(&ev[5], "acme", JD_EV_LOGIN, "later", (D + 40) * DAY), "u9", NULL));
    key_of(pat, sizeof pat, g_prefix, "acme", "[ex]:*");
    cr_assert_eq(count_keys(c, pat), 1, "only e: of day D+40 remains");
    key_of(key, sizeof key, g_prefix, "acme", "users");
    cr_assert_eq(raw_int(c, "HLEN %s", key), 1, "only u9 is recent enough");
    key_of(key, sizeof key, g_prefix, "acme", "days");
    cr_assert_eq(raw_int(c, "ZCARD %s", key), 1);
    redisFree(c);
    jd_state_destroy(st);
}

Test(state, lateness_uses_the_batch_as_of_not_batch_order)
{
    jd_state_t *st = state_new("");
    int64_t D = base_day();
    tev_t ev[4];
    tev_t *fwd[2], *rev[2];

    fwd[0] = tev_user(tev_set(&ev[0], "a1", JD_EV_LOGIN, "old", D * DAY), "u1", NULL);
    fwd[1] = tev_user(tev_set(&ev[1], "a1", JD_EV_LOGIN, "new", (D + 40) * DAY), "u2", NULL);
    rev[0] = tev_user(tev_set(&ev[2], "a2", JD_EV_LOGIN, "new", (D + 40) * DAY), "u2", NULL);
    rev[1] = tev_user(tev_set(&ev[3], "a2", JD_EV_LOGIN, "old", D * DAY), "u1", NULL);
    cr_assert_eq(apply_batch(st, fwd, 2).late, 1);
    cr_assert_eq(apply_batch(st, rev, 2).late, 1);
    jd_state_destroy(st);
}

/* A mixed batch of 30 events over two accounts, all within 30 days. */
static size_t mixed_batch(tev_t *ev, tev_t **b, int64_t D)
{
    size_t n = 0;
    char id[32], user[16];
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "use-%d", i);
        snprintf(user, sizeof user, "u%d", i % 7);
        b[n] = tev_user(tev_set(&ev[n], i % 2 ? "acme" : "beta",
                                i % 3 ? JD_EV_LOGIN : JD_EV_FEATURE_USED, id,
                                (D - i) * DAY + i * 1000), user,
                        i % 4 ? "report" : "export");
        n++;
    }
    b[n] = tev_set(&ev[n], "acme", JD_EV_ACCOUNT_CREATED, "c1", (D - 29) * DAY); n++;
    b[n] = tev_set(&ev[n], "acme", JD_EV_CONTRACT_SIGNED, "c2", (D - 28) * DAY); n++;
    b[n] = tev_set(&ev[n], "beta", JD_EV_FIRST_VALUE, "fv", (D - 3) * DAY); n++;
    b[n] = tev_set(&ev[n], "beta", JD_EV_CASE_OPENED, "case", D * DAY + 5); n++;
    b[n] = tev_attr(tev_attr(tev_set(&ev[n], "acme", JD_EV_ACCOUNT_UPDATED, "up1", (D - 2) * DAY), "seats", "10"), "plan", "pro"); n++;
    b[n] = tev_attr(tev_set(&ev[n], "acme", JD_EV_ACCOUNT_UPDATED, "up2", (D - 5) * DAY), "seats", "99"); n++;
    b[n] = tev_attr(tev_set(&ev[n], "beta", JD_EV_ACCOUNT_UPDATED, "up3", (D - 1) * DAY), "renewal_at", "2024-08-01"); n++;
    b[n] = tev_set(&ev[n], "beta", JD_EV_UNKNOWN, "unk", (D - 1) * DAY); n++;
    b[n] = tev_set(&ev[n], "beta", JD_EV_KICKOFF, "kick", (D - 1) * DAY); n++;
    b[n] = tev_set(&ev[n], "acme", JD_EV_GO_LIVE, "live", (D - 1) * DAY); n++;
    return n;
}

Test(state, duplicates_change_nothing)
{
    jd_state_t *st = state_new("");
    redisContext *c = raw_connect(&g_srv);
    tev_t ev[40];
    tev_t *b[41];
    char j1[2][JSON_MAX], j2[2][JSON_MAX], pat[128];
    size_t n = mixed_batch(ev, b, base_day());

    b[n] = b[3]; /* a duplicate inside the batch */
    totals_t tot = apply_batch(st, b, n + 1);
    cr_assert_eq(tot.applied, n);
    cr_assert_eq(tot.dups, 1);
    inspect_json(st, "acme", j1[0]);
    inspect_json(st, "beta", j1[1]);
    snprintf(pat, sizeof pat, "%s:*", g_prefix);
    size_t keys = count_keys(c, pat);

    tot = apply_batch(st, b, n + 1);
    cr_assert_eq(tot.applied, 0);
    cr_assert_eq(tot.dups, n + 1);
    inspect_json(st, "acme", j2[0]);
    inspect_json(st, "beta", j2[1]);
    cr_assert_str_eq(j1[0], j2[0]);
    cr_assert_str_eq(j1[1], j2[1]);
    cr_assert_eq(count_keys(c, pat), keys);
    cr_log_info("acme: %s", j1[0]);
    redisFree(c);
    jd_state_destroy(st);
}

Test(state, mixed_batch_values)
{
    jd_state_t *st = state_new("");
    tev_t ev[40];
    tev_t *b[40];
    int64_t D = base_day();
    jd_signals_t sg;

    apply_batch(st, b, mixed_batch(ev, b, D));
    inspect(st, "acme", &sg);
    cr_assert_eq(sig_num(&sg, JD_SIG_SEATS), 10, "newest update wins");
    cr_assert_str_eq(sg.sg_val[JD_SIG_PLAN].str, "pro");
    cr_assert_eq(sig_num(&sg, JD_SIG_START_AT), (double)((D - 29) * DAY));
    /* acme: odd i, users u1 u3 u5 u0 u2 u4 u6... within 28 days */
    cr_assert_float_eq(sig_num(&sg, JD_SIG_UTILIZATION),
                       sig_num(&sg, JD_SIG_ACTIVE_USERS_28D) / 10.0, 1e-12);
    cr_assert(sig_null(&sg, JD_SIG_FIRST_VALUE_AT), "acme used no value feature");
    cr_assert(sig_null(&sg, JD_SIG_TTFV_DAYS));
    inspect(st, "beta", &sg);
    cr_assert_eq(sig_num(&sg, JD_SIG_AS_OF), (double)(D * DAY + 5));
    cr_assert_eq(sig_num(&sg, JD_SIG_RENEWAL_AT),
                 (double)(jd_window_days_from_civil(2024, 8, 1) * DAY));
    /* value events of beta: feature_used "export" at i = 0 and 12, and the
     * first_value event at D-3: the earliest is i = 12 */
    cr_assert_eq(sig_num(&sg, JD_SIG_FIRST_VALUE_AT),
                 (double)((D - 12) * DAY + 12000));
    cr_assert(sig_null(&sg, JD_SIG_START_AT) && sig_null(&sg, JD_SIG_TTFV_DAYS));
    jd_state_destroy(st);
}

/* ======================= order independence ======================= */

#define OI_ACCTS  5
#define OI_EVENTS 200
#define OI_DUPS   20

static const char *const oi_accounts[OI_ACCTS] = {
    "acct-0", "acct-1", "acct:{2}", "acct }3", "acct 4"};

static uint64_t g_rng = 42;

static uint32_t rnd(void)
{
    g_rng = g_rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(g_rng >> 33);
}

static void oi_attrs(tev_t *t)
{
    static const char *const plans[] = {"basic", "pro", "ent"};
    char v[64];
    int n = 1 + (int)(rnd() % 3);
    for (int k = 0; k < n; k++) {
        switch (rnd() % 6) {
        case 0: snprintf(v, sizeof v, rnd() % 8 ? "%u" : "x%u", rnd() % 100);
                tev_attr(t, "seats", v); break;
        case 1: tev_attr(t, "plan", plans[rnd() % 3]); break;
        case 2: tev_attr(t, "segment", rnd() % 2 ? "smb" : "mid"); break;
        case 3: tev_attr(t, "status", rnd() % 2 ? "active" : "at_risk"); break;
        case 4: snprintf(v, sizeof v, "%u.%02u", rnd() % 90000, rnd() % 100);
                tev_attr(t, "arr", v); break;
        default:
            snprintf(v, sizeof v, rnd() % 2 ? "2025-%02u-%02uT10:00:00Z"
                                            : "2025-%02u-%02u",
                     1 + rnd() % 12, 1 + rnd() % 31); /* some invalid */
            tev_attr(t, "renewal_at", v);
        }
    }
}

/* The other kinds of issue 3: sentiment, cases (a few ids, so opens and
 * closes of one case race), milestones, sponsor changes, unknown types. */
static void oi_other(tev_t *t, const char *acct, const char *id, int64_t ms)
{
    static const jd_event_type_t types[] = {
        JD_EV_NPS_RESPONSE, JD_EV_CSAT_RESPONSE, JD_EV_CASE_OPENED, JD_EV_CASE_CLOSED,
        JD_EV_KICKOFF, JD_EV_GO_LIVE, JD_EV_VALUE_REALIZED, JD_EV_SPONSOR_CHANGED,
        JD_EV_UNKNOWN};
    char cid[16];
    jd_event_type_t type = types[rnd() % (sizeof types / sizeof types[0])];

    tev_set(t, acct, type, id, ms);
    if (type == JD_EV_NPS_RESPONSE || type == JD_EV_CSAT_RESPONSE) {
        t->ev.ev_value = (double)(rnd() % 13) - 1; /* some out of range */
        t->ev.ev_has_value = rnd() % 8 != 0;
    }
    if (type == JD_EV_CASE_OPENED || type == JD_EV_CASE_CLOSED) {
        snprintf(cid, sizeof cid, "case-%u", rnd() % 4);
        tev_attr(t, "case_id", cid);
        tev_attr(t, "severity", rnd() % 3 ? "sev3" : "sev1");
    }
}

static void oi_event(tev_t *t, int i)
{
    static const char *const features[] = {"report", "export", "dashboard"};
    char id[32], user[16];
    int64_t day = base_day() + rnd() % 40;
    int64_t ms = rnd() % 100 < 5 ? (base_day() + 20) * DAY   /* LWW ties */
                                 : day * DAY + rnd() % DAY;
    uint32_t kind = rnd() % 100;
    const char *acct = oi_accounts[rnd() % OI_ACCTS];

    snprintf(id, sizeof id, "ev-%04d", i);
    snprintf(user, sizeof user, "u%u", rnd() % 12);
    if (kind < 40)
        tev_user(tev_set(t, acct, JD_EV_FEATURE_USED, id, ms), user,
                 features[rnd() % 3]);
    else if (kind < 60)
        tev_user(tev_set(t, acct, JD_EV_LOGIN, id, ms),
                 rnd() % 10 ? user : NULL, NULL);
    else if (kind < 64)
        tev_set(t, acct, JD_EV_ACCOUNT_CREATED, id, ms);
    else if (kind < 67)
        tev_set(t, acct, JD_EV_CONTRACT_SIGNED, id, ms);
    else if (kind < 70)
        tev_set(t, acct, JD_EV_FIRST_VALUE, id, ms);
    else if (kind < 85)
        oi_attrs(tev_set(t, acct, JD_EV_ACCOUNT_UPDATED, id, ms));
    else
        oi_other(t, acct, id, ms);
}

/* OI_EVENTS events plus OI_DUPS exact re-sends of earlier ones. */
static tev_t *oi_generate(size_t *n)
{
    tev_t *ev = calloc(OI_EVENTS + OI_DUPS, sizeof *ev);
    for (int i = 0; i < OI_EVENTS; i++)
        oi_event(&ev[i], i);
    for (int i = 0; i < OI_DUPS; i++) {
        memcpy(&ev[OI_EVENTS + i], &ev[rnd() % OI_EVENTS], sizeof *ev);
        tev_fix(&ev[OI_EVENTS + i]);
    }
    *n = OI_EVENTS + OI_DUPS;
    return ev;
}

static int oi_by_time(const void *a, const void *b)
{
    const tev_t *x = *(tev_t *const *)a, *y = *(tev_t *const *)b;
    if (x->ev.ev_occurred_at != y->ev.ev_occurred_at)
        return x->ev.ev_occurred_at < y->ev.ev_occurred_at ? -1 : 1;
    return strcmp(x->id, y->id);
}

static void oi_apply(jd_state_t *st, tev_t **order, size_t n, size_t batch)
{
    for (size_t i = 0; i < n; i += batch)
        apply_batch(st, order + i, n - i < batch ? n - i : batch);
}

/* Expected signals, computed the slow obvious way from the event list. */
static void oi_expect(tev_t *ev, size_t n, const char *acct,
                      jd_signals_t *sg)
{
    int64_t T = INT64_MIN, start = INT64_MAX, fv = INT64_MAX;
    char users[3][OI_EVENTS][16];
    size_t nu[3] = {0, 0, 0};
    static const int len[3] = {1, 7, 28};

    for (size_t i = 0; i < n; i++)
        if (!strcmp(ev[i].account, acct) && ev[i].ev.ev_occurred_at > T)
            T = ev[i].ev.ev_occurred_at;
    for (size_t i = 0; i < n; i++) {
        const jd_event_t *e = &ev[i].ev;
        if (strcmp(ev[i].account, acct))
            continue;
        if (e->ev_type == JD_EV_ACCOUNT_CREATED || e->ev_type == JD_EV_CONTRACT_SIGNED)
            start = e->ev_occurred_at < start ? e->ev_occurred_at : start;
        if (e->ev_type == JD_EV_FIRST_VALUE ||
            (e->ev_type == JD_EV_FEATURE_USED && !strcmp(ev[i].feature, "export")))
            fv = e->ev_occurred_at < fv ? e->ev_occurred_at : fv;
        if ((e->ev_type != JD_EV_LOGIN && e->ev_type != JD_EV_FEATURE_USED) ||
            !e->ev_user)
            continue;
        for (int w = 0; w < 3; w++) {
            if (!jd_window_contains(jd_window_day(T), len[w],
                                    jd_window_day(e->ev_occurred_at)))
                continue;
            size_t k = 0;
            while (k < nu[w] && strcmp(users[w][k], e->ev_user))
                k++;
            if (k == nu[w])
                snprintf(users[w][nu[w]++], 16, "%s", e->ev_user);
        }
    }
    jd_signals_clear(sg);
    jd_signals_set_num(sg, JD_SIG_AS_OF, (double)T);
    jd_signals_set_num(sg, JD_SIG_ACTIVE_USERS_1D, (double)nu[0]);
    jd_signals_set_num(sg, JD_SIG_ACTIVE_USERS_7D, (double)nu[1]);
    jd_signals_set_num(sg, JD_SIG_ACTIVE_USERS_28D, (double)nu[2]);
    if (start != INT64_MAX)
        jd_signals_set_num(sg, JD_SIG_START_AT, (double)start);
    if (fv != INT64_MAX)
        jd_signals_set_num(sg, JD_SIG_FIRST_VALUE_AT, (double)fv);
}

static void oi_check_expected(const jd_signals_t *got, const jd_signals_t *want)
{
    static const jd_signal_id_t ids[] = {
        JD_SIG_AS_OF, JD_SIG_ACTIVE_USERS_1D, JD_SIG_ACTIVE_USERS_7D,
        JD_SIG_ACTIVE_USERS_28D, JD_SIG_START_AT, JD_SIG_FIRST_VALUE_AT};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        const jd_value_t *g = &got->sg_val[ids[i]], *w = &want->sg_val[ids[i]];
        cr_assert_eq(g->type, w->type, "%s", jd_signals_name(ids[i]));
        cr_assert_eq(g->num, w->num, "%s: %f != %f", jd_signals_name(ids[i]),
                     g->num, w->num);
    }
}

Test(state, order_and_batching_independence)
{
    size_t n;
    tev_t *ev = oi_generate(&n);
    tev_t **order = calloc(n, sizeof *order);
    jd_state_t *st[3] = {state_new("a"), state_new("b"), state_new("c")};
    static const size_t batch[3] = {100000, 7, 31};
    char json[3][JSON_MAX];

    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < n; i++)
            order[i] = &ev[i];
        if (k < 2)
            qsort(order, n, sizeof *order, oi_by_time);
        if (k == 1) /* newest first */
            for (size_t i = 0; i < n / 2; i++) {
                tev_t *t = order[i];
                order[i] = order[n - 1 - i];
                order[n - 1 - i] = t;
            }
        if (k == 2) /* shuffled */
            for (size_t i = n - 1; i > 0; i--) {
                size_t j = rnd() % (i + 1);
                tev_t *t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        oi_apply(st[k], order, n, batch[k]);
    }
    for (int a = 0; a < OI_ACCTS; a++) {
        jd_signals_t got, want;
        for (int k = 0; k < 3; k++)
            inspect_json(st[k], oi_accounts[a], json[k]);
        cr_assert_str_eq(json[0], json[1], "%s", oi_accounts[a]);
        cr_assert_str_eq(json[0], json[2], "%s", oi_accounts[a]);
        inspect(st[0], oi_accounts[a], &got);
        oi_expect(ev, n, oi_accounts[a], &want);
        oi_check_expected(&got, &want);
        cr_log_info("%s", json[0]);
    }
    for (int k = 0; k < 3; k++)
        jd_state_destroy(st[k]);
    free(order);
    free(ev);
}

/* ======================= last-writer-wins ======================= */

static void lww_events(tev_t *ev, tev_t **b, int64_t t)
{
    b[0] = tev_attr(tev_attr(tev_attr(tev_set(&ev[0], "lww", JD_EV_ACCOUNT_UPDATED, "u1", t),
                   "seats", "50"), "plan", "pro"), "arr", "1200.5");
    b[1] = tev_attr(tev_attr(tev_attr(tev_attr(tev_set(&ev[1], "lww", JD_EV_ACCOUNT_UPDATED, "u2", t - 500),
                   "seats", "10"), "plan", "basic"), "segment", "smb"), "renewal_at", "2025-06-30");
    b[2] = tev_attr(tev_set(&ev[2], "lww", JD_EV_ACCOUNT_UPDATED, "u0", t), "seats", "70");
    b[3] = tev_attr(tev_set(&ev[3], "lww", JD_EV_ACCOUNT_UPDATED, "u9", t), "seats", "80");
    b[4] = tev_attr(tev_attr(tev_attr(tev_attr(tev_set(&ev[4], "lww", JD_EV_ACCOUNT_UPDATED, "u5", t + 1000),
                   "seats", "abc"), "plan", "enterprise"), "renewal_at", "2025-02-30"), "favourite", "x");
}

Test(state, lww_attributes)
{
    jd_state_t *st = state_new("f"), *rev = state_new("r");
    int64_t t = base_day() * DAY + 1000;
    tev_t ev[5];
    tev_t *b[5], *r[5];
    jd_signals_t sg;
    char j1[JSON_MAX], j2[JSON_MAX];

    lww_events(ev, b, t);
    apply_one(st, b[0]);
    apply_one(st, b[1]); /* older: only segment and renewal_at are new */
    inspect(st, "lww", &sg);
    cr_assert_eq(sig_num(&sg, JD_SIG_SEATS), 50);
    cr_assert_str_eq(sg.sg_val[JD_SIG_PLAN].str, "pro");
    cr_assert_str_eq(sg.sg_val[JD_SIG_SEGMENT].str, "smb");
    cr_assert_eq(sig_num(&sg, JD_SIG_ARR), 1200.5);
    cr_assert_eq(sig_num(&sg, JD_SIG_RENEWAL_AT),
                 (double)(jd_window_days_from_civil(2025, 6, 30) * DAY));
    apply_one(st, b[2]); /* same ms, smaller event id: loses */
    inspect(st, "lww", &sg);
    cr_assert_eq(sig_num(&sg, JD_SIG_SEATS), 50);
    apply_one(st, b[3]); /* same ms, greater event id: wins */
    inspect(st, "lww", &sg);
    cr_assert_eq(sig_num(&sg, JD_SIG_SEATS), 80);
    apply_one(st, b[4]); /* newest, but bad seats and renewal_at are ignored */
    inspect(st, "lww", &sg);
    cr_assert_eq(sig_num(&sg, JD_SIG_SEATS), 80);
    cr_assert_str_eq(sg.sg_val[JD_SIG_PLAN].str, "enterprise");
    cr_assert_eq(sig_num(&sg, JD_SIG_RENEWAL_AT),
                 (double)(jd_window_days_from_civil(2025, 6, 30) * DAY));
    cr_assert(sig_null(&sg, JD_SIG_UTILIZATION) == 0);

    for (int i = 0; i < 5; i++)
        r[i] = b[4 - i];
    apply_batch(rev, r, 5); /* all at once, newest first */
    inspect_json(st, "lww", j1);
    inspect_json(rev, "lww", j2);
    cr_assert_str_eq(j1, j2);
    jd_state_destroy(st);
    jd_state_destroy(rev);
}

/* ======================= rule states and outbox ======================= */

typedef struct seen {
    int           n;
    char          account[8][64];
    char          tid[8][64];
    unsigned char payload[8][1100];
    size_t        len[8];
} seen_t;

static void seen_fn(const char *account, const char *tid,
                    const unsigned char *payload, size_t len, void *opaque)
{
    seen_t *s = opaque;
    cr_assert_lt(s->n, 8);
    cr_assert_leq(len, sizeof s->payload[0]);
    snprintf(s->account[s->n], 64, "%s", account);
    snprintf(s->tid[s->n], 64, "%s", tid);
    memcpy(s->payload[s->n], payload, len);
    s->len[s->n++] = len;
}

static int seen_find(const seen_t *s, const char *account, const char *tid)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->account[i], account) && !strcmp(s->tid[i], tid))
            return i;
    return -1;
}

static int scan(jd_state_t *st, seen_t *s)
{
    jd_err_t err;
    memset(s, 0, sizeof *s);
    int n = jd_state_outbox_scan(st, seen_fn, s, &err);
    cr_assert_geq(n, 0, "scan: %s", err.err_msg);
    cr_assert_eq(n, s->n);
    return n;
}

Test(state, rules_and_outbox_round_trip)
{
    jd_state_t *st = state_new("");
    redisContext *c = raw_connect(&g_srv);
    static const unsigned char p1[] = {0, 1, 'A', 'B', 0, 0xff};
    unsigned char p2[1000];
    const char *rule_ids[] = {"r.low_usage", "r:renewal {x}"};
    jd_rule_state_t states[2] = {{1, 1700000000000, 1690000000000, 3, 0},
                                 {0, 0, 1600000000000, 1, 0}};
    const char *tids[] = {"tid-1", "tid-2"}, *tids_b[] = {"tid-3"};
    const unsigned char *pls[] = {p1, p2}, *pls_b[] = {p2};
    size_t lens[] = {sizeof p1, sizeof p2}, lens_b[] = {17};
    jd_state_commit_t cms[3] = {
        {"A", 2, rule_ids, states, 2, tids, pls, lens, NULL, 0},
        {"B x}", 0, NULL, NULL, 1, tids_b, pls_b, lens_b, NULL, 0},
        {"C", 1, rule_ids, states, 0, NULL, NULL, NULL, NULL, 0},
    };
    jd_err_t err;
    seen_t s;
    char key[128];

    for (size_t i = 0; i < sizeof p2; i++)
        p2[i] = (unsigned char)(i * 7);
    cr_assert_eq(jd_state_commit(st, cms, 3, NULL, &err), 0, "%s", err.err_msg);
    cr_assert_eq(jd_state_commit(st, cms, 3, NULL, &err), 0, "idempotent");

    /* rule states come back through apply (no events needed) */
    const char *ask[] = {"r.low_usage", "r:renewal {x}", "never-stored"};
    jd_rule_state_t got[3];
    memset(got, 0x55, sizeof got);
    jd_account_batch_t ab = {.ab_account = "A", .ab_rule_states = got};
    cr_assert_eq(jd_state_apply(st, &ab, 1, ask, 3, &err), 0, "%s", err.err_msg);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(got[i].rs_open, states[i].rs_open);
        cr_assert_eq(got[i].rs_opened_at, states[i].rs_opened_at);
        cr_assert_eq(got[i].rs_last_fired_at, states[i].rs_last_fired_at);
        cr_assert_eq(got[i].rs_episode, states[i].rs_episode);
    }
    cr_assert(!got[2].rs_open && !got[2].rs_episode && !got[2].rs_opened_at &&
              !got[2].rs_last_fired_at, "never stored = initial state");

    cr_assert_eq(scan(st, &s), 3);
    int i1 = seen_find(&s, "A", "tid-1"), i2 = seen_find(&s, "A", "tid-2"),
        i3 = seen_find(&s, "B x}", "tid-3");
    cr_assert(i1 >= 0 && i2 >= 0 && i3 >= 0);
    cr_assert_eq(s.len[i1], sizeof p1);
    cr_assert_eq(memcmp(s.payload[i1], p1, sizeof p1), 0, "NUL bytes kept");
    cr_assert_eq(s.len[i2], sizeof p2);
    cr_assert_eq(memcmp(s.payload[i2], p2, sizeof p2), 0);
    cr_assert_eq(s.len[i3], 17);

    const char *acc1[] = {"A"}, *tid1[] = {"tid-1"};
    cr_assert_eq(jd_state_outbox_ack(st, acc1, tid1, 1, &err), 0, "%s", err.err_msg);
    cr_assert_eq(scan(st, &s), 2);
    snprintf(key, sizeof key, "%s:outbox", g_prefix);
    cr_assert_eq(raw_int(c, "SISMEMBER %s %s", key, "A"), 1);

    const char *acc2[] = {"B x}", "A", "B x}"}, *tid2[] = {"tid-3", "tid-2", "nope"};
    cr_assert_eq(jd_state_outbox_ack(st, acc2, tid2, 3, &err), 0, "%s", err.err_msg);
    cr_assert_eq(scan(st, &s), 0);
    cr_assert_eq(raw_int(c, "SCARD %s", key), 0, "index emptied");
    cr_assert_eq(jd_state_outbox_ack(st, acc2, tid2, 3, &err), 0, "ack twice");
    redisFree(c);
    jd_state_destroy(st);
}

/* The claim (commit.lua): a commit writes only when the account had no
 * other commit since the read its decision was made from; a lost claim
 * writes nothing (no rule state, no outbox entry) and is reported; the
 * same commit sent again (a retry after a lost reply) is not a conflict. */
Test(state, commit_claims_episodes_atomically)
{
    jd_state_t *st = state_new("claim");
    redisContext *c = raw_connect(&g_srv);
    const char *rid[] = {"r"}, *ask[] = {"r"};
    jd_rule_state_t mine = {1, 10, 10, 1, 0}, theirs = {1, 20, 20, 1, 0}, got;
    const char *tid[] = {"t1"}, *tid2[] = {"t2"}, *tid3[] = {"t3"};
    const unsigned char *pm[] = {(const unsigned char *)"mine"},
                        *pt[] = {(const unsigned char *)"theirs"};
    size_t len[] = {4}, lent[] = {6};
    jd_state_commit_t a = {"k", 1, rid, &mine, 1, tid, pm, len, NULL, 0};
    jd_state_commit_t b = {"k", 1, rid, &theirs, 1, tid2, pt, lent, NULL, 0};
    jd_account_batch_t ab = {.ab_account = "k", .ab_rule_states = &got};
    unsigned char conflict = 9;
    char key[256];
    jd_err_t err;

    /* both decided from claim 0: the first commit wins */
    cr_assert_eq(jd_state_commit(st, &a, 1, &conflict, &err), 0, "%s", err.err_msg);
    cr_assert_eq(conflict, 0);
    cr_assert_eq(jd_state_commit(st, &b, 1, &conflict, &err), 0, "%s", err.err_msg);
    cr_assert_eq(conflict, 1, "the second decision from claim 0 loses");
    snprintf(key, sizeof key, "%s.claim:{k}:outbox", g_prefix);
    cr_assert_eq(raw_int(c, "HLEN %s", key), 1, "the loser wrote no outbox entry");
    cr_assert_eq(jd_state_apply(st, &ab, 1, ask, 1, &err), 0, "%s", err.err_msg);
    cr_assert_eq(got.rs_opened_at, 10, "the loser wrote no rule state");
    cr_assert_eq(ab.ab_claim, 1);

    /* the winner's commit again (a lost reply): recognised, no conflict */
    cr_assert_eq(jd_state_commit(st, &a, 1, &conflict, &err), 0, "%s", err.err_msg);
    cr_assert_eq(conflict, 0, "a repeated commit is not a conflict");
    cr_assert_eq(jd_state_apply(st, &ab, 1, ask, 1, &err), 0, "%s", err.err_msg);
    cr_assert_eq(ab.ab_claim, 1, "and it wrote nothing");

    /* decided again from the new read: wins */
    b.cm_claim = ab.ab_claim;
    cr_assert_eq(jd_state_commit(st, &b, 1, &conflict, &err), 0, "%s", err.err_msg);
    cr_assert_eq(conflict, 0);
    cr_assert_eq(jd_state_apply(st, &ab, 1, ask, 1, &err), 0, "%s", err.err_msg);
    cr_assert_eq(got.rs_opened_at, 20);
    cr_assert_eq(ab.ab_claim, 2);

    /* the winner's first commit once more, after another commit came in
     * between: its outbox entry is there with the same bytes, so it was
     * stored; it succeeds without writing (its trigger gets published) */
    cr_assert_eq(jd_state_commit(st, &a, 1, &conflict, &err), 0, "%s", err.err_msg);
    cr_assert_eq(conflict, 0, "a commit whose outbox entries are stored is not a conflict");
    cr_assert_eq(jd_state_apply(st, &ab, 1, ask, 1, &err), 0, "%s", err.err_msg);
    cr_assert_eq(got.rs_opened_at, 20, "and it wrote nothing");
    cr_assert_eq(ab.ab_claim, 2);

    /* a caller that cannot handle conflicts gets an error */
    jd_state_commit_t d = {"k", 1, rid, &mine, 1, tid3, pt, lent, NULL, 0};
    cr_assert_eq(jd_state_commit(st, &d, 1, NULL, &err), JD_ERR_FATAL);
    cr_assert(strstr(err.err_msg, "claim"), "%s", err.err_msg);
    cr_assert_eq(raw_int(c, "HEXISTS %s t3", key), 0);
    d.cm_claim = JD_STATE_CLAIM_ANY;
    cr_assert_eq(jd_state_commit(st, &d, 1, NULL, &err), 0, "%s", err.err_msg);
    cr_assert_eq(raw_int(c, "HEXISTS %s t3", key), 1);
    redisFree(c);
    jd_state_destroy(st);
}

/* Redis Cluster's key -> slot: CRC16/XMODEM of the hash tag. */
static unsigned crc16(const char *s, size_t n)
{
    unsigned crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (unsigned)(unsigned char)s[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff
                               : (crc << 1) & 0xffff;
    }
    return crc;
}

static unsigned key_slot(const char *key)
{
    const char *open = strchr(key, '{');
    const char *close = open ? strchr(open + 1, '}') : NULL;
    if (open && close && close > open + 1)
        return crc16(open + 1, (size_t)(close - open - 1)) & 16383;
    return crc16(key, strlen(key)) & 16383;
}

Test(state, account_ids_with_separators_and_braces)
{
    static const char *const ids[] = {
        "a:b", "x{y}z", "}", "{", "{}", "sp ace", "%7D", "%", "t:{42}:acct", ""};
    enum { N = sizeof ids / sizeof ids[0] };
    jd_state_t *st = state_new("");
    redisContext *c = raw_connect(&g_srv);
    tev_t ev[N][N];
    char tag[64], pat[256], uid[16], eid[16];

    jd_state_key_tag("x{y}z", tag, sizeof tag);
    cr_assert_str_eq(tag, "x{y%7Dz");
    for (int a = 0; a < N; a++) {
        tev_t *b[N];
        for (int u = 0; u <= a; u++) {
            snprintf(uid, sizeof uid, "u%d", u);
            snprintf(eid, sizeof eid, "e%d", u);
            b[u] = tev_user(tev_set(&ev[a][u], ids[a], JD_EV_LOGIN, eid,
                                    base_day() * DAY), uid, NULL);
        }
        cr_assert_eq(apply_batch(st, b, (size_t)a + 1).applied, (size_t)a + 1);
    }
    for (int a = 0; a < N; a++) {
        jd_signals_t sg;
        inspect(st, ids[a], &sg);
        cr_assert_eq(sig_num(&sg, JD_SIG_ACTIVE_USERS_1D), a + 1, "'%s'", ids[a]);
        /* every key of the account hashes to the slot of its tag */
        jd_state_key_tag(ids[a], tag, sizeof tag);
        snprintf(pat, sizeof pat, "%s:{%s}:*", g_prefix, tag);
        redisReply *r = redisCommand(c, "KEYS %s", pat);
        cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements >= 4,
                  "'%s': %zu keys", ids[a], r ? r->elements : 0);
        for (size_t k = 0; k < r->elements; k++)
            cr_assert_eq(key_slot(r->element[k]->str),
                         crc16(tag, strlen(tag)) & 16383, "%s",
                         r->element[k]->str);
        freeReplyObject(r);
    }
    jd_err_t err;
    cr_assert_eq(jd_state_account_count(st, &err), N);

    const char *tids[] = {"t"};
    const unsigned char *pls[] = {(const unsigned char *)"p"};
    size_t lens[] = {1};
    jd_state_commit_t cms[2] = {{"x{y}z", 0, NULL, NULL, 1, tids, pls, lens, NULL, 0},
                                {"", 0, NULL, NULL, 1, tids, pls, lens, NULL, 0}};
    cr_assert_eq(jd_state_commit(st, cms, 2, NULL, &err), 0, "%s", err.err_msg);
    seen_t s;
    cr_assert_eq(scan(st, &s), 2);
    cr_assert_geq(seen_find(&s, "x{y}z", "t"), 0);
    cr_assert_geq(seen_find(&s, "", "t"), 0);
    redisFree(c);
    jd_state_destroy(st);
}

Test(state, key_tag_is_injective, .init = NULL, .fini = NULL)
{
    char a[64], b[64];
    cr_assert_eq(jd_state_key_tag("a}b%c", a, sizeof a), 9);
    cr_assert_str_eq(a, "a%7Db%25c");
    jd_state_key_tag("}", a, sizeof a);
    jd_state_key_tag("%7D", b, sizeof b);
    cr_assert_str_neq(a, b);
    cr_assert_str_eq(b, "%257D");
    jd_state_key_tag("", a, sizeof a);
    cr_assert_str_eq(a, "%00");
    jd_state_key_tag(NULL, a, sizeof a);
    cr_assert_str_eq(a, "%00");
    jd_state_key_tag("plain:{x", a, sizeof a);
    cr_assert_str_eq(a, "plain:{x");
    cr_assert_eq(jd_state_key_tag("}}}}", a, 4), 12);
    cr_assert_str_eq(a, "%7D");
}

/* ======================= failures ======================= */

Test(state, redis_killed_then_restarted)
{
    srv_t own;
    jd_err_t err;
    jd_signals_t sg;
    tev_t ev[3];

    memset(&own, 0, sizeof own);
    srv_start(&own, 0);
    jd_state_t *st = state_on(&own, g_prefix, 0);
    apply_one(st, tev_user(tev_set(&ev[0], "acme", JD_EV_LOGIN, "e1", base_day() * DAY), "u1", NULL));

    srv_kill(&own, SIGKILL);
    const jd_event_t *one[] = {&tev_user(tev_set(&ev[1], "acme", JD_EV_LOGIN, "e2", base_day() * DAY), "u2", NULL)->ev};
    jd_account_batch_t ab = {.ab_account = "acme", .ab_events = one, .ab_event_cnt = 1};
    cr_assert_eq(jd_state_apply(st, &ab, 1, NULL, 0, &err), JD_ERR_RETRY);
    cr_assert_eq(err.err_code, JD_E_REDIS);
    cr_log_info("while down: %s", err.err_msg);
    cr_assert_eq(jd_state_inspect(st, "acme", &sg, &err), JD_ERR_RETRY);
    cr_assert_eq(jd_state_account_count(st, &err), JD_ERR_RETRY);

    srv_start(&own, 0); /* same port, empty (no persistence) */
    cr_assert_eq(jd_state_apply(st, &ab, 1, NULL, 0, &err), 0, "%s", err.err_msg);
    cr_assert_eq(ab.ab_applied, 1);
    inspect(st, "acme", &sg);
    cr_assert_eq(sig_num(&sg, JD_SIG_ACTIVE_USERS_1D), 1);
    cr_assert_eq(jd_state_account_count(st, &err), 1);
    jd_state_destroy(st);
    srv_stop(&own);
}

Test(state, frozen_redis_times_out)
{
    srv_t own;
    jd_err_t err;
    jd_signals_t sg;
    tev_t ev;

    memset(&own, 0, sizeof own);
    srv_start(&own, 0);
    jd_state_t *st = state_on(&own, g_prefix, 200);
    apply_one(st, tev_user(tev_set(&ev, "acme", JD_EV_LOGIN, "e1", base_day() * DAY), "u1", NULL));
    kill(own.pid, SIGSTOP);
    cr_assert_eq(jd_state_inspect(st, "acme", &sg, &err), JD_ERR_RETRY);
    cr_log_info("frozen: %s", err.err_msg);
    kill(own.pid, SIGCONT);
    inspect(st, "acme", &sg); /* reconnects */
    cr_assert_eq(sig_num(&sg, JD_SIG_ACTIVE_USERS_1D), 1);
    jd_state_destroy(st);
    srv_stop(&own);
}

Test(state, noscript_reloads_and_resends_once)
{
    jd_state_t *st = state_new("");
    redisContext *c = raw_connect(&g_srv);
    tev_t ev[4];
    tev_t *b[2];
    jd_err_t err;

    apply_one(st, tev_user(tev_set(&ev[0], "a1", JD_EV_LOGIN, "e1", base_day() * DAY), "u1", NULL));
    freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
    uint64_t reloads = jd_redis_count(JD_REDIS_C_NOSCRIPT);
    b[0] = tev_user(tev_set(&ev[1], "a1", JD_EV_LOGIN, "e2", base_day() * DAY), "u2", NULL);
    b[1] = tev_user(tev_set(&ev[2], "a2", JD_EV_LOGIN, "e3", base_day() * DAY), "u3", NULL);
    totals_t tot = apply_batch(st, b, 2);
    cr_assert_eq(tot.applied, 2, "each account applied exactly once");
    cr_assert_eq(tot.dups, 0);
    cr_assert_eq(jd_redis_count(JD_REDIS_C_NOSCRIPT), reloads + 2, "one reload per EVALSHA");
    cr_assert_eq(jd_redis_count(JD_REDIS_C_MOVED) + jd_redis_count(JD_REDIS_C_ASK), 0,
                 "one redis-server never redirects");

    freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
    const char *rid[] = {"r"};
    jd_rule_state_t rs = {1, 5, 5, 1, 0};
    jd_state_commit_t cm = {"a1", 1, rid, &rs, 0, NULL, NULL, NULL, NULL, 0};
    cr_assert_eq(jd_state_commit(st, &cm, 1, NULL, &err), 0, "%s", err.err_msg);
    redisFree(c);
    jd_state_destroy(st);
}

Test(state, inspect_reads_only)
{
    jd_state_t *st = state_new("");
    redisContext *c = raw_connect(&g_srv);
    jd_signals_t sg;
    jd_err_t err;
    tev_t ev;
    char pat[128], j1[JSON_MAX], j2[JSON_MAX];

    snprintf(pat, sizeof pat, "%s:*", g_prefix);
    cr_assert_eq(jd_state_inspect(st, "nobody", &sg, &err), JD_ERR_SKIP);
    cr_assert_eq(err.err_code, JD_E_MISSING_FIELD);
    cr_assert(sig_null(&sg, JD_SIG_AS_OF));
    cr_assert_eq(count_keys(c, pat), 0, "inspect wrote nothing");
    cr_assert_eq(jd_state_account_count(st, &err), 0);

    apply_one(st, tev_user(tev_set(&ev, "acme", JD_EV_LOGIN, "e1", base_day() * DAY), "u1", NULL));
    size_t keys = count_keys(c, pat);
    inspect_json(st, "acme", j1);
    freeReplyObject(redisCommand(c, "CONFIG RESETSTAT"));
    inspect_json(st, "acme", j2);
    cr_assert_str_eq(j1, j2);
    cr_assert_eq(count_keys(c, pat), keys);
    redisReply *r = redisCommand(c, "INFO commandstats");
    cr_assert(r && r->type == REDIS_REPLY_STRING);
    static const char *const writes[] = {"cmdstat_sadd:", "cmdstat_hset:",
        "cmdstat_zadd:", "cmdstat_del:", "cmdstat_zremrangebyscore:"};
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++)
        cr_assert_null(strstr(r->str, writes[i]), "inspect ran %s", writes[i]);
    freeReplyObject(r);
    cr_assert_eq(jd_state_account_count(st, &err), 1);
    redisFree(c);
    jd_state_destroy(st);
}

Test(state, bad_configuration_and_unreachable)
{
    jd_state_conf_t sc;
    jd_err_t err;

    jd_state_conf_default(&sc);
    sc.sc_prefix = "a{b";
    cr_assert_null(jd_state_new(&sc, &err));
    cr_assert_eq(err.err_class, JD_ERR_FATAL);
    cr_assert_eq(err.err_code, JD_E_CONFIG);
    jd_state_conf_default(&sc);
    sc.sc_retention_days = 27;
    cr_assert_null(jd_state_new(&sc, &err));
    cr_assert_eq(err.err_class, JD_ERR_FATAL);
    cr_log_info("%s", err.err_msg);
    jd_state_conf_default(&sc);
    sc.sc_port = free_port(); /* nothing listens there */
    cr_assert_null(jd_state_new(&sc, &err));
    cr_assert_eq(err.err_class, JD_ERR_RETRY);
    cr_assert_eq(err.err_code, JD_E_REDIS);
    cr_log_info("%s", err.err_msg);
}

Test(state, rejected_events_are_counted)
{
    jd_state_t *st = state_new("");
    tev_t ev[3];
    tev_t *b[3];

    b[0] = tev_set(&ev[0], "acme", JD_EV_LOGIN, "", base_day() * DAY);
    b[1] = tev_set(&ev[1], "acme", JD_EV_LOGIN, "neg", -5);
    b[2] = tev_set(&ev[2], "acme", JD_EV_LOGIN, "ok", base_day() * DAY);
    totals_t tot = apply_batch(st, b, 3);
    cr_assert_eq(tot.rejected, 2);
    cr_assert_eq(tot.applied, 1);
    jd_state_destroy(st);
}

Test(state, unix_socket)
{
    srv_t own;
    jd_signals_t sg;
    tev_t ev;
    const char *sock = getenv("JD_REDIS_SOCKET");

    memset(&own, 0, sizeof own);
    if (sock && *sock)
        snprintf(own.sock, sizeof own.sock, "%s", sock);
    else
        srv_start(&own, 1);
    jd_state_t *st = state_on(&own, g_prefix, 0);
    apply_one(st, tev_user(tev_set(&ev, "acme", JD_EV_LOGIN, "e1", base_day() * DAY), "u1", NULL));
    inspect(st, "acme", &sg);
    cr_assert_eq(sig_num(&sg, JD_SIG_ACTIVE_USERS_1D), 1);
    jd_state_destroy(st);
    if (own.pid)
        srv_stop(&own);
    else
        drop_prefix(&own, g_prefix);
}

/* ======================= the signals of issue 3 ======================= */

static const char *const g_core[] = {"report", "export", "dashboard", "alerts"};

/* A state with core features, and the given idle expiry (0: never). */
static jd_state_t *state_full(const char *suffix, int64_t idle_ms)
{
    char prefix[96];
    jd_state_conf_t sc;
    jd_err_t err;

    snprintf(prefix, sizeof prefix, "%s.%s", g_prefix, suffix);
    jd_state_conf_default(&sc);
    sc.sc_port = g_srv.port;
    sc.sc_unix_path = g_srv.sock[0] ? g_srv.sock : NULL;
    sc.sc_prefix = prefix;
    sc.sc_value_features = g_value_features;
    sc.sc_value_feature_cnt = 1;
    sc.sc_core_features = g_core;
    sc.sc_core_feature_cnt = 4;
    sc.sc_idle_expiry_ms = idle_ms;
    jd_state_t *st = jd_state_new(&sc, &err);
    cr_assert_not_null(st, "jd_state_new: %s", err.err_msg);
    return st;
}

static tev_t *tev_value(tev_t *t, double v)
{
    t->ev.ev_value = v;
    t->ev.ev_has_value = 1;
    return t;
}

/* A login of user on day d (at hour h), id "<acct>-<n>". */
static tev_t *login(tev_t *t, const char *acct, int n, const char *user, int64_t d, int h)
{
    char id[32];
    snprintf(id, sizeof id, "%s-%d", acct, n);
    return tev_user(tev_set(t, acct, JD_EV_LOGIN, id, d * DAY + h * 3600000), user, NULL);
}

Test(state, window_day_boundaries_and_weekly_blocks)
{
    jd_state_t *st = state_full("wb", 0);
    int64_t D = base_day() + 60;
    tev_t ev[8];
    tev_t *b[8];
    jd_signals_t sg;

    /* the last ms of D-7 is in the previous week, the first of D-6 in this */
    b[0] = tev_user(tev_set(&ev[0], "w", JD_EV_LOGIN, "w0", (D - 6) * DAY - 1), "u1", NULL);
    b[1] = tev_user(tev_set(&ev[1], "w", JD_EV_LOGIN, "w1", (D - 6) * DAY), "u2", NULL);
    b[2] = login(&ev[2], "w", 2, "u3", D - 13, 0);      /* block 1 */
    b[3] = login(&ev[3], "w", 3, "u3", D - 20, 0);      /* block 2 */
    b[4] = login(&ev[4], "w", 4, "u4", D - 34, 23);     /* block 4, last kept day */
    b[5] = login(&ev[5], "w", 5, "u5", D, 12);
    b[6] = tev_set(&ev[6], "w", JD_EV_LOGIN, "w6", D * DAY + 1); /* no user */
    apply_batch(st, b, 7);
    inspect(st, "w", &sg);
    cr_assert_eq(sig_num(&sg, JD_SIG_ACTIVE_USERS_1D), 1);
    cr_assert_eq(sig_num(&sg, JD_SIG_ACTIVE_USERS_7D), 2, "u2 u5");
    cr_assert_eq(sig_num(&sg, JD_SIG_ACTIVE_USERS_28D), 4, "u1 u2 u3 u5");
    /* blocks: [D-13,D-7] u1 u3; [D-20,D-14] u3; [D-27,D-21] -; [D-34,D-28] u4 */
    cr_assert_eq(sig_num(&sg, JD_SIG_WAU_PREV4_AVG), 1.0);
    cr_assert_float_eq(sig_num(&sg, JD_SIG_USAGE_CHANGE_7D), 1.0, 1e-12);
    cr_assert_eq(sig_num(&sg, JD_SIG_EVENTS_7D), 3, "the login without a user counts");
    cr_assert_eq(sig_num(&sg, JD_SIG_EVENTS_28D), 6);
    cr_assert_eq(sig_num(&sg, JD_SIG_DAYS_ACTIVE_28D), 5);
    cr_assert_eq(sig_num(&sg, JD_SIG_LAST_USAGE_AT), (double)(D * DAY + 12 * 3600000));
    jd_state_destroy(st);
}

Test(state, windows_reaching_before_any_data)
{
    jd_state_t *st = state_full("new", 0);
    int64_t D = base_day();
    tev_t ev[3];
    tev_t *b[3];
    jd_signals_t sg;

    b[0] = tev_set(&ev[0], "n", JD_EV_ACCOUNT_CREATED, "n0", D * DAY);
    b[1] = login(&ev[1], "n", 1, "u1", D, 1);
    b[2] = login(&ev[2], "n", 2, "u2", D, 2);
    apply_batch(st, b, 3);
    inspect(st, "n", &sg);
    cr_assert_eq(sig_num(&sg, JD_SIG_ACTIVE_USERS_28D), 2);
    cr_assert_eq(sig_num(&sg, JD_SIG_WAU_PREV4_AVG), 0);
    cr_assert(sig_null(&sg, JD_SIG_USAGE_CHANGE_7D));
    cr_assert_eq(sig_num(&sg, JD_SIG_POWER_USERS_28D), 0);
    cr_assert_eq(sig_num(&sg, JD_SIG_FEATURE_BREADTH_28D), 0);
    cr_assert_eq(sig_num(&sg, JD_SIG_CASES_OPENED_28D), 0);
    cr_assert(sig_null(&sg, JD_SIG_NPS_AVG_90D));
    cr_assert_str_eq(sg.sg_val[JD_SIG_STAGE].str, "onboarding");
    jd_state_destroy(st);
}

Test(state, late_too_late_and_duplicates)
{
    jd_state_t *st = state_full("late", 0);
    int64_t D = base_day() + 100;
    tev_t ev[8];
    tev_t *b[4];
    jd_signals_t sg;

    apply_one(st, login(&ev[0], "l", 0, "u0", D, 10));
    b[0] = login(&ev[1], "l", 1, "u1", D - 20, 0);     /* late: counts */
    b[1] = login(&ev[2], "l", 2, "u2", D - 34, 0);     /* late, last kept day */
    b[2] = login(&ev[3], "l", 3, "u3", D - 35, 0);     /* too late */
    b[3] = tev_user(tev_set(&ev[4], "l", JD_EV_FEATURE_USED, "l4", (D - 50) * DAY),
                    "u4", "export");                   /* too late, value use */
    totals_t tot = apply_batch(st, b, 4);
    cr_assert_eq(tot.applied, 2);
    cr_assert_eq(tot.late, 2);
    inspect(st, "l", &sg);
    cr_assert_eq(sig_num(&sg, JD_SIG_ACTIVE_USERS_28D), 2, "u0 u1");
    cr_assert_eq(sig_num(&sg, JD_SIG_WAU_PREV4_AVG), 0.5, "u1 in block 2, u2 in block 4");
    cr_assert_eq(sig_num(&sg, JD_SIG_FIRST_VALUE_AT), (double)((D - 50) * DAY),
                 "milestones always apply");
    cr_assert_eq(sig_num(&sg, JD_SIG_LAST_USAGE_AT), (double)(D * DAY + 10 * 3600000));
    char j1[JSON_MAX], j2[JSON_MAX];
    inspect_json(st, "l", j1);
    tot = apply_batch(st, b, 4);                       /* all again */
    cr_assert_eq(tot.dups, 2);
    cr_assert_eq(tot.late, 2);
    inspect_json(st, "l", j2);
    cr_assert_str_eq(j1, j2);
    jd_state_destroy(st);
}

Test(state, power_users_and_core_features)
{
    jd_state_t *st = state_full("pu", 0);
    int64_t D = base_day() + 40;
    static const char *const feats[] = {"report", "export", "search", "report"};
    tev_t ev[40];
    tev_t *b[40];
    jd_signals_t sg;
    size_t n = 0;
    char id[16];

    for (int d = 0; d < 8; d++)       /* p8: 8 distinct days of the 28 */
        b[n] = login(&ev[n], "p", (int)n, "p8", D - 3 * d, 0), n++;
    for (int d = 0; d < 7; d++)       /* p7: 7 days, and twice on one day */
        b[n] = login(&ev[n], "p", (int)n, "p7", D - d, 1), n++;
    b[n] = login(&ev[n], "p", (int)n, "p7", D, 2), n++;
    b[n] = login(&ev[n], "p", (int)n, "old", D - 28, 0), n++;  /* outside */
    for (int k = 0; k < 4; k++) {
        snprintf(id, sizeof id, "f%d", k);
        b[n] = tev_user(tev_set(&ev[n], "p", JD_EV_FEATURE_USED, id, (D - 27 + k) * DAY),
                        "fu", feats[k]);
        n++;
    }
    snprintf(id, sizeof id, "f-old");
    b[n] = tev_user(tev_set(&ev[n], "p", JD_EV_FEATURE_USED, id, (D - 28) * DAY),
                    "fu", "alerts");  /* a core feature, a day too early */
    n++;
    apply_batch(st, b, n);
    inspect(st, "p", &sg);
    cr_assert_eq(sig_num(&sg, JD_SIG_POWER_USERS_28D), 1, "p8 only");
    cr_assert_eq(sig_num(&sg, JD_SIG_CORE_FEATURES_USED_28D), 2, "report, export");
    cr_assert_float_eq(sig_num(&sg, JD_SIG_FEATURE_BREADTH_28D), 0.5, 1e-12);
    jd_state_destroy(st);
}

/* case_opened / case_closed of case c at ms t */
static tev_t *case_ev(tev_t *t, const char *id, int opened, const char *c,
                      const char *sev, int64_t ms)
{
    tev_set(t, "c", opened ? JD_EV_CASE_OPENED : JD_EV_CASE_CLOSED, id, ms);
    tev_attr(t, "case_id", c);
    if (sev)
        tev_attr(t, "severity", sev);
    return t;
}

Test(state, cases_sentiment_and_sponsor)
{
    jd_state_t *st = state_full("cs", 0), *rev = state_full("cs-rev", 0);
    int64_t D = base_day() + 200, T = D * DAY;
    tev_t ev[16];
    tev_t *b[16], *r[16];
    jd_signals_t sg;
    size_t n = 0;

    b[n] = case_ev(&ev[n], "c1", 1, "A", "sev1", T - 40 * DAY), n++;   /* opened */
    b[n] = case_ev(&ev[n], "c2", 0, "A", NULL, T - 30 * DAY), n++;     /* closed */
    b[n] = case_ev(&ev[n], "c3", 1, "A", "SEV1", T - 3 * DAY), n++;    /* reopened */
    b[n] = case_ev(&ev[n], "c4", 1, "B", "sev3", T - 10 * DAY), n++;
    b[n] = case_ev(&ev[n], "c5", 0, "C", NULL, T - 9 * DAY), n++;      /* close only */
    b[n] = case_ev(&ev[n], "c6", 1, "D", "critical", T - 1), n++;
    b[n] = case_ev(&ev[n], "c7b", 0, "D", NULL, T - 1), n++;           /* tie: c7b > c6 */
    b[n] = tev_value(tev_set(&ev[n], "c", JD_EV_NPS_RESPONSE, "n1", T - 100 * DAY), 10), n++;
    b[n] = tev_value(tev_set(&ev[n], "c", JD_EV_NPS_RESPONSE, "n2", T - 80 * DAY), 4), n++;
    b[n] = tev_value(tev_set(&ev[n], "c", JD_EV_NPS_RESPONSE, "n3", T - DAY), 8), n++;
    b[n] = tev_value(tev_set(&ev[n], "c", JD_EV_NPS_RESPONSE, "n4", T), 11), n++; /* invalid */
    b[n] = tev_value(tev_set(&ev[n], "c", JD_EV_CSAT_RESPONSE, "s1", T - DAY), 4), n++;
    b[n] = tev_value(tev_set(&ev[n], "c", JD_EV_CSAT_RESPONSE, "s2", T), 0), n++;  /* invalid */
    b[n] = tev_set(&ev[n], "c", JD_EV_SPONSOR_CHANGED, "p1", T - 5 * DAY), n++;
    b[n] = tev_set(&ev[n], "c", JD_EV_SPONSOR_CHANGED, "p2", T - 50 * DAY), n++;
    for (size_t i = 0; i < n; i++)
        apply_one(st, b[i]);
    for (size_t i = 0; i < n; i++)
        r[i] = b[n - 1 - i];
    apply_batch(rev, r, n);
    inspect(st, "c", &sg);
    cr_assert_eq(sig_num(&sg, JD_SIG_CASES_OPEN), 2, "A (reopened), B");
    cr_assert_eq(sig_num(&sg, JD_SIG_SEV1_OPEN), 1, "A");
    cr_assert_eq(sig_num(&sg, JD_SIG_CASES_OPENED_7D), 2, "A reopened, D (closed since)");
    cr_assert_eq(sig_num(&sg, JD_SIG_CASES_OPENED_28D), 3, "A B D");
    cr_assert_eq(sig_num(&sg, JD_SIG_NPS_LAST), 8);
    cr_assert_str_eq(sg.sg_val[JD_SIG_NPS_CATEGORY].str, "passive");
    cr_assert_float_eq(sig_num(&sg, JD_SIG_NPS_AVG_90D), 6.0, 1e-12, "4 and 8; 10 too old");
    cr_assert_eq(sig_num(&sg, JD_SIG_CSAT_LAST), 4);
    cr_assert_eq(sig_num(&sg, JD_SIG_SPONSOR_CHANGED_AT), (double)(T - 5 * DAY));
    cr_assert_float_eq(sig_num(&sg, JD_SIG_DAYS_SINCE_SPONSOR_CHANGE), 5, 1e-12);
    char j1[JSON_MAX], j2[JSON_MAX];
    inspect_json(st, "c", j1);
    inspect_json(rev, "c", j2);
    cr_assert_str_eq(j1, j2, "one at a time = reversed in one batch");
    apply_batch(st, b, n);                              /* replay */
    inspect_json(st, "c", j2);
    cr_assert_str_eq(j1, j2);
    jd_state_destroy(st);
    jd_state_destroy(rev);
}

Test(state, inspect_at_another_instant_writes_nothing)
{
    jd_state_t *st = state_full("asof", 0);
    redisContext *c = raw_connect(&g_srv);
    int64_t D = base_day() + 50;
    tev_t ev[4];
    tev_t *b[4];
    jd_signals_t sg;
    jd_state_inspect_info_t info;
    jd_err_t err;
    char pat[128];

    b[0] = tev_set(&ev[0], "a", JD_EV_ACCOUNT_CREATED, "a0", (D - 40) * DAY);
    b[1] = login(&ev[1], "a", 1, "u1", D - 3, 0);
    b[2] = login(&ev[2], "a", 2, "u2", D, 0);
    b[3] = tev_set(&ev[3], "a", JD_EV_FIRST_VALUE, "a3", (D - 1) * DAY);
    apply_batch(st, b, 4);
    snprintf(pat, sizeof pat, "%s.asof:*", g_prefix);
    size_t keys = count_keys(c, pat);

    /* ten days of silence: 7-day window empties, 28-day one keeps both */
    cr_assert_eq(jd_state_inspect_at(st, "a", (D + 10) * DAY, &sg, &info, &err), 0,
                 "%s", err.err_msg);
    cr_assert(info.si_windows_complete);
    cr_assert_eq(info.si_state_as_of, D * DAY);
    cr_assert_eq(sig_num(&sg, JD_SIG_AS_OF), (double)((D + 10) * DAY));
    cr_assert_eq(sig_num(&sg, JD_SIG_ACTIVE_USERS_7D), 0);
    cr_assert_eq(sig_num(&sg, JD_SIG_ACTIVE_USERS_28D), 2);
    cr_assert_float_eq(sig_num(&sg, JD_SIG_DAYS_SINCE_LAST_USAGE), 10, 1e-12);
    /* back before first value: the milestone is not reached yet */
    cr_assert_eq(jd_state_inspect_at(st, "a", (D - 2) * DAY, &sg, &info, &err), 0);
    cr_assert(!info.si_windows_complete);
    cr_assert(sig_null(&sg, JD_SIG_FIRST_VALUE_AT));
    cr_assert_eq(sig_num(&sg, JD_SIG_ACTIVE_USERS_7D), 1, "u1; u2 is after");
    cr_assert_str_eq(sg.sg_val[JD_SIG_STAGE].str, "onboarding");
    cr_assert_eq(count_keys(c, pat), keys, "nothing written");
    cr_assert_eq(jd_state_inspect_at(st, "nobody", D * DAY, &sg, &info, &err), JD_ERR_SKIP);
    redisFree(c);
    jd_state_destroy(st);
}

Test(state, idle_accounts_shrink_to_profile_and_milestones)
{
    jd_state_t *st = state_full("idle", 300);
    redisContext *c = raw_connect(&g_srv);
    int64_t D = base_day();
    tev_t ev[4];
    tev_t *b[4];
    jd_signals_t sg;
    char pat[128];

    b[0] = tev_attr(tev_set(&ev[0], "i", JD_EV_ACCOUNT_UPDATED, "i0", D * DAY), "seats", "4");
    b[1] = tev_user(tev_set(&ev[1], "i", JD_EV_FEATURE_USED, "i1", D * DAY + 1), "u1", "export");
    b[2] = tev_value(tev_set(&ev[2], "i", JD_EV_NPS_RESPONSE, "i2", D * DAY + 2), 9);
    b[3] = case_ev(&ev[3], "i3", 1, "K", NULL, D * DAY + 3);
    strcpy(ev[3].account, "i");
    tev_fix(&ev[3]);
    apply_batch(st, b, 4);
    snprintf(pat, sizeof pat, "%s.idle:*", g_prefix);
    size_t before = count_keys(c, pat);
    usleep(600 * 1000);
    size_t after = count_keys(c, pat);
    cr_log_info("idle account: %zu keys, %zu after the idle expiry", before, after);
    cr_assert_lt(after, before);
    snprintf(pat, sizeof pat, "%s.idle:{i}:[exd]*", g_prefix);
    cr_assert_eq(count_keys(c, pat), 0, "per-day keys and the days index expired");
    inspect(st, "i", &sg);
    cr_assert_eq(sig_num(&sg, JD_SIG_ACTIVE_USERS_1D), 0, "windows are gone");
    cr_assert_eq(sig_num(&sg, JD_SIG_SEATS), 4, "profile kept");
    cr_assert_eq(sig_num(&sg, JD_SIG_FIRST_VALUE_AT), (double)(D * DAY + 1), "milestones kept");
    cr_assert_eq(sig_num(&sg, JD_SIG_NPS_LAST), 9);
    cr_assert_eq(sig_num(&sg, JD_SIG_CASES_OPEN), 1, "case states kept");
    redisFree(c);
    jd_state_destroy(st);
}

Test(state, journey_changes_commit_with_their_event)
{
    jd_state_t *st = state_full("jc", 0);
    redisContext *c = raw_connect(&g_srv);
    tev_t ev;
    jd_signals_t sg;
    jd_signals_change_t ch;
    jd_err_t err;
    char key[256];
    int64_t T = base_day() * DAY;

    apply_one(st, tev_set(&ev, "j", JD_EV_ACCOUNT_CREATED, "j0", T));
    inspect(st, "j", &sg);
    cr_assert_eq(jd_signals_observe(&sg, jd_state_signals_conf(st), &ch), 1);
    cr_assert(ch.ch_stage && !ch.ch_healthy_adoption);
    const char *oid[] = {"s:0123"};
    const unsigned char *pl[] = {(const unsigned char *)"stage"};
    size_t len[] = {5};
    jd_state_commit_t cm = {"j", 0, NULL, NULL, 1, oid, pl, len, &ch, 0};
    cr_assert_eq(jd_state_commit(st, &cm, 1, NULL, &err), 0, "%s", err.err_msg);
    inspect(st, "j", &sg);
    cr_assert_str_eq(sg.sg_stage_stored, "onboarding");
    cr_assert_eq(sg.sg_stage_seq, 1);
    cr_assert_eq(sig_num(&sg, JD_SIG_STAGE_CHANGED_AT), (double)T);
    cr_assert(sig_null(&sg, JD_SIG_HEALTHY_ADOPTION_AT));
    cr_assert_eq(jd_signals_observe(&sg, jd_state_signals_conf(st), &ch), 0,
                 "a replay decides nothing again");
    snprintf(key, sizeof key, "%s.jc:{j}:outbox", g_prefix);
    cr_assert_eq(raw_int(c, "HEXISTS %s s:0123", key), 1);
    /* healthy adoption is first-seen: a later commit does not move it */
    memset(&ch, 0, sizeof ch);
    ch.ch_healthy_adoption = 1;
    ch.ch_at = T;
    cm.cm_trigger_cnt = 0;
    cm.cm_claim = JD_STATE_CLAIM_ANY; /* no read in between */
    cr_assert_eq(jd_state_commit(st, &cm, 1, NULL, &err), 0, "%s", err.err_msg);
    ch.ch_at = T + 5;
    cr_assert_eq(jd_state_commit(st, &cm, 1, NULL, &err), 0, "%s", err.err_msg);
    inspect(st, "j", &sg);
    cr_assert_eq(sig_num(&sg, JD_SIG_HEALTHY_ADOPTION_AT), (double)T);
    cr_assert_str_eq(sg.sg_val[JD_SIG_STAGE].str, "value_realization");
    cr_assert_str_eq(sg.sg_stage_stored, "onboarding", "until the pipeline observes it");
    redisFree(c);
    jd_state_destroy(st);
}

/* ======================= cost ======================= */

/* Counts the commands clients sent (MONITOR lines not run by a script)
 * that name this test's prefix, until the sentinel ECHO appears. */
static size_t monitor_count(redisContext *mon, const char *sentinel)
{
    char needle[80];
    size_t n = 0;

    snprintf(needle, sizeof needle, "\"%s:", g_prefix);
    for (;;) {
        redisReply *r = NULL;
        cr_assert_eq(redisGetReply(mon, (void **)&r), REDIS_OK);
        int done = r->str && strstr(r->str, sentinel) != NULL;
        if (!done && r->str && strstr(r->str, needle) &&
            !strstr(r->str, " lua]"))
            n++;
        freeReplyObject(r);
        if (done)
            return n;
    }
}

static long long cmdstat_calls(const char *info, const char *cmd)
{
    char key[64];
    snprintf(key, sizeof key, "cmdstat_%s:calls=", cmd);
    const char *p = strstr(info, key);
    return p ? atoll(p + strlen(key)) : 0;
}

static long long cmdstat_total(const char *info)
{
    long long sum = 0;
    for (const char *p = strstr(info, "calls="); p; p = strstr(p + 1, "calls="))
        if (p[-1] == ':')
            sum += atoll(p + 6);
    return sum;
}

Test(state, redis_commands_per_event)
{
    enum { ACCTS = 100, PER = 10, N = ACCTS * PER };
    tev_t *ev = calloc(N, sizeof *ev);
    tev_t **b = calloc(N, sizeof *b);
    jd_state_t *st = state_new("");
    redisContext *c = raw_connect(&g_srv), *mon = raw_connect(&g_srv);
    char acct[32], id[32], user[16];

    for (int i = 0; i < N; i++) {
        snprintf(acct, sizeof acct, "acct-%03d", i % ACCTS);
        snprintf(id, sizeof id, "e%d", i);
        snprintf(user, sizeof user, "u%d", i % 17);
        b[i] = tev_set(&ev[i], acct, i % 5 ? JD_EV_FEATURE_USED : JD_EV_ACCOUNT_UPDATED,
                       id, (base_day() + i % 30) * DAY + i);
        if (i % 5)
            tev_user(b[i], user, i % 3 ? "report" : "export");
        else
            tev_attr(tev_attr(b[i], "seats", "25"), "plan", "pro");
    }
    freeReplyObject(redisCommand(mon, "MONITOR"));
    freeReplyObject(redisCommand(c, "CONFIG RESETSTAT"));
    totals_t tot = apply_batch(st, b, N);
    freeReplyObject(redisCommand(c, "ECHO jd-count-sentinel"));
    size_t top = monitor_count(mon, "jd-count-sentinel");

    redisReply *r = redisCommand(c, "INFO commandstats");
    cr_assert(r && r->type == REDIS_REPLY_STRING);
    long long evalsha = cmdstat_calls(r->str, "evalsha");
    long long all = cmdstat_total(r->str) - cmdstat_calls(r->str, "echo") -
                    cmdstat_calls(r->str, "config|resetstat");
    freeReplyObject(r);

    cr_assert_eq(tot.applied, N);
    cr_assert_eq(evalsha, ACCTS, "one EVALSHA per account");
    double per_event = (double)top / N;
    cr_log_info("redis commands per event: %.3f sent by the client "
                "(%zu for %d events over %d accounts: %lld EVALSHA + index); "
                "%.2f including commands run inside the scripts (%lld)",
                per_event, top, N, ACCTS, evalsha, (double)all / N, all);
    cr_assert_lt(per_event, 0.2);
    redisFree(mon);
    redisFree(c);
    jd_state_destroy(st);
    free(b);
    free(ev);
}
