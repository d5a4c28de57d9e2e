/*
 * jd_record: the stored form of one account record (contract and layout
 * in jd_record.h).
 *
 * The encoder walks jd_account_t in one fixed order and appends to a
 * jd_buf_t through a writer whose error is sticky, so the field list reads
 * as a flat sequence of puts with one check at the end. The decoder is
 * its mirror: a reader with a sticky error (the first one wins and names
 * the byte offset), every length checked against the bytes left, every
 * count checked against what the bytes left can hold at the smallest
 * element size before anything is allocated. Arrays are allocated with
 * calloc and their count set at once, so jd_account_destroy frees a
 * half-decoded record correctly.
 *
 * Invariants the decoder enforces, because jd_account*.c rely on them: the
 * sorted arrays (cases by cs_id, activity by at_key, days by dy_day, each
 * part of a day's ids (a sealed day has none), NPS by (np_day, np_hash),
 * rules by ar_hash) are strictly increasing (bisection and inserts assume
 * it); strings hold no NUL byte (they are compared with strcmp); a
 * last-writer-wins value has its event id (ac_newer compares both); stages are
 * -1 or a jd_stage_t (they index a name table); the case counters agree
 * with the cases; instants and days are in the range jd_account_apply
 * accepts, so the window arithmetic on them cannot overflow. Positions are
 * not sorted in the account and are not checked for repeats.
 *
 * Version 1 differs in the days only (each day absolute, with the number
 * of its usage ids and every id): its days decode to the same jd_day_t,
 * and the sealing at the end of the decode (jd__account_days_seal, what
 * the apply does when the as-of day moves) drops the ids the lateness
 * horizon no longer needs. So an upgraded instance reads the records of
 * the old one and writes version 2 from the first change on.
 *
 * Not stored: ac_win_day, ac_win, ac_nps_cnt, ac_nps_sum. A decoded record
 * has ac_win_day = INT64_MIN ("not computed", as jd_account_new leaves
 * it): jd_account_apply recomputes windows and NPS totals before its first
 * use of them, and jd_account_raw counts from scratch at any day other
 * than ac_win_day, so both behave exactly as on the original.
 *
 * Pure, any thread; the caller owns out and the returned record.
 */
#include "jd_record.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jd_account_int.h" /* jd__account_lww_parse, jd__account_days_seal */
#include "jd_codec_int.h" /* jd__codec_buf_reserve */

#define REC_TS_MAX INT64_C(10000000000000) /* as jd_account_apply: 10^13 ms */
#define REC_DAY_MAX (REC_TS_MAX / JD_WINDOW_DAY_MS)

/* Flags of a string-or-null and of a last-writer-wins value. */
#define REC_EID 1
#define REC_VAL 2

/* ---- writer ----------------------------------------------------------------- */

typedef struct rec_w {
    jd_buf_t *w_out;
    jd_err_t *w_err;
    int       w_rc;
} rec_w_t;

static void w_bytes(rec_w_t *w, const void *p, size_t n)
{
    jd_buf_t *b = w->w_out;
    if (w->w_rc || (b->b_len + n > b->b_cap &&
                    (w->w_rc = jd__codec_buf_reserve(b, b->b_len + n, w->w_err))))
        return;
    memcpy(b->b_data + b->b_len, p, n);
    b->b_len += n;
}

static void w_u(rec_w_t *w, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        tmp[n++] |= v ? 0x80 : 0;
    } while (v);
    w_bytes(w, tmp, n);
}

static void w_s(rec_w_t *w, int64_t v)
{
    w_u(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void w_h(rec_w_t *w, uint64_t v)
{
    unsigned char tmp[8];
    for (int i = 0; i < 8; i++)
        tmp[i] = (unsigned char)(v >> (8 * i));
    w_bytes(w, tmp, 8);
}

static void w_str(rec_w_t *w, const char *s)
{
    size_t n = strlen(s);
    w_u(w, n);
    w_bytes(w, s, n);
}

/* A string that may be NULL: a presence byte, then the string. */
static void w_ostr(rec_w_t *w, const char *s)
{
    unsigned char f = s != NULL;
    w_bytes(w, &f, 1);
    if (s)
        w_str(w, s);
}

static void w_double(rec_w_t *w, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    w_h(w, u);
}

/* ---- encoding ----------------------------------------------------------------- */

static void enc_head(rec_w_t *w, const jd_account_t *ac)
{
    unsigned char head[JD_RECORD_HEAD];
    head[0] = JD_RECORD_VERSION;
    for (int i = 0; i < 8; i++)
        head[1 + i] = (unsigned char)(ac->ac_epoch >> (8 * (7 - i)));
    w_bytes(w, head, sizeof head);
}

static void enc_scalars(rec_w_t *w, const jd_account_t *ac)
{
    w_str(w, ac->ac_id);
    w_s(w, ac->ac_as_of);
    w_s(w, ac->ac_start_at);
    w_s(w, ac->ac_kickoff_at);
    w_s(w, ac->ac_go_live_at);
    w_s(w, ac->ac_first_value_at);
    w_s(w, ac->ac_value_realized_at);
    w_s(w, ac->ac_healthy_adoption_at);
    w_s(w, ac->ac_last_event_at);
    w_s(w, ac->ac_last_usage_at);
    w_s(w, ac->ac_sponsor_changed_at);
}

static void enc_lww(rec_w_t *w, const jd_account_t *ac)
{
    for (int k = 0; k < JD_LWW__COUNT; k++) {
        const jd_lww_t *lw = &ac->ac_lww[k];
        unsigned char f = (lw->lw_eid ? REC_EID : 0) | (lw->lw_val ? REC_VAL : 0);
        w_bytes(w, &f, 1);
        w_s(w, lw->lw_at);
        if (lw->lw_eid)
            w_str(w, lw->lw_eid);
        if (lw->lw_val)
            w_str(w, lw->lw_val);
    }
}

static void enc_cases(rec_w_t *w, const jd_account_t *ac)
{
    w_u(w, ac->ac_ncases);
    for (uint32_t i = 0; i < ac->ac_ncases; i++) {
        const jd_case_t *cs = &ac->ac_cases[i];
        w_str(w, cs->cs_id);
        w_s(w, cs->cs_at);
        w_ostr(w, cs->cs_eid);
        w_bytes(w, &cs->cs_state, 1);
        w_bytes(w, &cs->cs_sev1, 1);
    }
    w_s(w, ac->ac_cases_open);
    w_s(w, ac->ac_sev1_open);
}

static void enc_acts(rec_w_t *w, const jd_acts_t *as)
{
    w_u(w, as->as_n);
    for (uint32_t i = 0; i < as->as_n; i++) {
        w_h(w, as->as_v[i].at_key);
        w_u(w, as->as_v[i].at_val);
    }
}

/* Version 2: per day its distance from the previous one (the first: the
 * day itself), its usage count, then 0 for a sealed day or 1 + the number
 * of ids that follow. */
static void enc_days(rec_w_t *w, const jd_account_t *ac)
{
    w_u(w, ac->ac_ndays);
    for (uint32_t i = 0; i < ac->ac_ndays; i++) {
        const jd_day_t *dy = &ac->ac_days[i];
        w_u(w, (uint64_t)(i ? dy->dy_day - dy[-1].dy_day : dy->dy_day));
        w_u(w, dy->dy_usage);
        w_u(w, dy->dy_sealed ? 0 : 1 + (uint64_t)dy->dy_n);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (dy->dy_n)
            w_bytes(w, dy->dy_ids, 8 * (size_t)dy->dy_n); /* already the stored order */
#else
        for (uint32_t k = 0; k < dy->dy_n; k++)
            w_h(w, dy->dy_ids[k]);
#endif
    }
}

static void enc_nps_rules(rec_w_t *w, const jd_account_t *ac)
{
    w_u(w, ac->ac_nnps);
    for (uint32_t i = 0; i < ac->ac_nnps; i++) {
        w_s(w, ac->ac_nps[i].np_day);
        w_double(w, ac->ac_nps[i].np_value);
        w_h(w, ac->ac_nps[i].np_hash);
    }
    w_u(w, ac->ac_nrules);
    for (uint32_t i = 0; i < ac->ac_nrules; i++) {
        const jd_rule_state_t *rs = &ac->ac_rules[i].ar_state;
        w_h(w, ac->ac_rules[i].ar_hash);
        w_s(w, rs->rs_open);
        w_s(w, rs->rs_opened_at);
        w_s(w, rs->rs_last_fired_at);
        w_u(w, rs->rs_episode);
        w_s(w, rs->rs_since);
    }
}

static void enc_tail(rec_w_t *w, const jd_account_t *ac)
{
    w_s(w, ac->ac_stage);
    w_s(w, ac->ac_prev_stage);
    w_s(w, ac->ac_stage_changed_at);
    w_s(w, ac->ac_stage_seq);
    w_s(w, ac->ac_timer_at);
    w_s(w, ac->ac_rules_at);
    w_u(w, ac->ac_npos);
    for (uint32_t i = 0; i < ac->ac_npos; i++) {
        w_h(w, ac->ac_pos[i].po_topic);
        w_s(w, ac->ac_pos[i].po_partition);
        w_s(w, ac->ac_pos[i].po_offset);
    }
}

int jd_record_encode(const jd_account_t *ac, jd_buf_t *out, jd_err_t *err)
{
    rec_w_t w = {out, err, 0};
    out->b_len = 0;
    enc_head(&w, ac);
    enc_scalars(&w, ac);
    enc_lww(&w, ac);
    enc_cases(&w, ac);
    enc_acts(&w, &ac->ac_users);
    enc_acts(&w, &ac->ac_feats);
    enc_acts(&w, &ac->ac_copen);
    enc_days(&w, ac);
    enc_nps_rules(&w, ac);
    enc_tail(&w, ac);
    return w.w_rc ? -1 : 0;
}

uint64_t jd_record_epoch(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t e = 0;
    if (len < JD_RECORD_HEAD)
        return 0;
    for (int i = 1; i < JD_RECORD_HEAD; i++)
        e = (e << 8) | p[i];
    return e;
}

/* ---- reader ------------------------------------------------------------------- */

typedef struct rec_r {
    const unsigned char *r_p;
    size_t               r_left, r_len;
    jd_err_t            *r_err;
    int                  r_bad;     /* sticky: the first error is kept */
} rec_r_t;

/* Records the first error: `what` at the current offset. */
static void r_fail(rec_r_t *r, const char *what)
{
    if (r->r_bad)
        return;
    r->r_bad = 1;
    jd_err_set(r->r_err, JD_ERR_FATAL, JD_E_MALFORMED,
               "account record: %s at byte %zu of %zu", what,
               r->r_len - r->r_left, r->r_len);
}

static void r_nomem(rec_r_t *r)
{
    if (r->r_bad)
        return;
    r->r_bad = 1;
    jd_err_set(r->r_err, JD_ERR_FATAL, JD_E_NOMEM,
               "account record: out of memory decoding %zu bytes", r->r_len);
}

static const unsigned char *r_take(rec_r_t *r, size_t n)
{
    if (r->r_bad || n > r->r_left) {
        r_fail(r, "truncated");
        return NULL;
    }
    const unsigned char *p = r->r_p;
    r->r_p += n;
    r->r_left -= n;
    return p;
}

static uint64_t r_u(rec_r_t *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        const unsigned char *p = r_take(r, 1);
        if (!p)
            return 0;
        if (shift == 63 && (*p & 0x7e)) /* bits beyond 64 */
            break;
        v |= (uint64_t)(*p & 0x7f) << shift;
        if (!(*p & 0x80))
            return v;
    }
    r_fail(r, "varint too long");
    return 0;
}

static int64_t r_s(rec_r_t *r)
{
    uint64_t u = r_u(r);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* A signed varint that must lie in [lo, hi]. */
static int64_t r_range(rec_r_t *r, int64_t lo, int64_t hi, const char *what)
{
    int64_t v = r_s(r);
    if (!r->r_bad && (v < lo || v > hi))
        r_fail(r, what);
    return v;
}

/* An instant: JD_SIGNALS_NO_TS or in [0, 10^13). */
static int64_t r_ts(rec_r_t *r)
{
    int64_t v = r_s(r);
    if (!r->r_bad && v != JD_SIGNALS_NO_TS && (v < 0 || v >= REC_TS_MAX))
        r_fail(r, "instant out of range");
    return v;
}

static uint64_t r_h(rec_r_t *r)
{
    const unsigned char *p = r_take(r, 8);
    uint64_t v = 0;
    for (int i = 7; p && i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static unsigned char r_byte(rec_r_t *r)
{
    const unsigned char *p = r_take(r, 1);
    return p ? *p : 0;
}

/* A string (no NUL inside), copied; NULL after an error. */
static char *r_str(rec_r_t *r)
{
    uint64_t n = r_u(r);
    if (!r->r_bad && n > r->r_left)
        r_fail(r, "string longer than the record");
    const unsigned char *p = r_take(r, (size_t)n);
    if (!p)
        return NULL;
    if (memchr(p, 0, (size_t)n)) {
        r_fail(r, "NUL byte in a string");
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s) {
        r_nomem(r);
        return NULL;
    }
    memcpy(s, p, (size_t)n);
    s[n] = 0;
    return s;
}

static char *r_ostr(rec_r_t *r)
{
    unsigned char f = r_byte(r);
    if (f > 1)
        r_fail(r, "bad presence flag");
    return f == 1 ? r_str(r) : NULL;
}

/* A count of elements of at least `each` bytes that the bytes left can
 * hold; 0 after an error. */
static uint32_t r_count(rec_r_t *r, size_t each)
{
    uint64_t n = r_u(r);
    if (!r->r_bad && (n > UINT32_MAX || n > r->r_left / each))
        r_fail(r, "count larger than the record can hold");
    return r->r_bad ? 0 : (uint32_t)n;
}

/* calloc(n, each) for an array of n; NULL when n is 0 or after an error
 * (a check between the count and the array may have failed). */
static void *r_array(rec_r_t *r, uint32_t n, size_t each)
{
    if (!n || r->r_bad)
        return NULL;
    void *p = calloc(n, each);
    if (!p)
        r_nomem(r);
    return p;
}

/* ---- decoding ------------------------------------------------------------------- */

static void dec_scalars(rec_r_t *r, jd_account_t *ac)
{
    int64_t *ts[] = {&ac->ac_as_of, &ac->ac_start_at, &ac->ac_kickoff_at,
                     &ac->ac_go_live_at, &ac->ac_first_value_at,
                     &ac->ac_value_realized_at, &ac->ac_healthy_adoption_at,
                     &ac->ac_last_event_at, &ac->ac_last_usage_at,
                     &ac->ac_sponsor_changed_at};
    ac->ac_id = r_str(r);
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        *ts[i] = r_ts(r);
}

static void dec_lww(rec_r_t *r, jd_account_t *ac)
{
    for (int k = 0; k < JD_LWW__COUNT && !r->r_bad; k++) {
        jd_lww_t *lw = &ac->ac_lww[k];
        unsigned char f = r_byte(r);
        if (f > (REC_EID | REC_VAL) || f == REC_VAL)
            r_fail(r, "bad last-writer-wins flags");
        lw->lw_at = r_ts(r);
        if (f & REC_EID)
            lw->lw_eid = r_str(r);
        if (f & REC_VAL)
            lw->lw_val = r_str(r);
        jd__account_lww_parse(lw);
    }
}

static void dec_case(rec_r_t *r, jd_case_t *cs, const jd_case_t *prev)
{
    if (!(cs->cs_id = r_str(r)))
        return;
    if (prev && strcmp(prev->cs_id, cs->cs_id) >= 0)
        r_fail(r, "cases not strictly sorted");
    cs->cs_at = r_ts(r);
    cs->cs_eid = r_ostr(r);
    cs->cs_state = (char)r_byte(r);
    cs->cs_sev1 = (char)r_byte(r);
    if (cs->cs_state != 'o' && cs->cs_state != 'c' && cs->cs_state != 0)
        r_fail(r, "bad case state");
    if (cs->cs_sev1 != 0 && cs->cs_sev1 != 1)
        r_fail(r, "bad case sev1 flag");
}

/* The counters as ac_case_apply keeps them. */
static void dec_case_counts(rec_r_t *r, jd_account_t *ac)
{
    int64_t open = 0, sev1 = 0;
    for (uint32_t i = 0; i < ac->ac_ncases; i++) {
        const jd_case_t *cs = &ac->ac_cases[i];
        open += cs->cs_eid && cs->cs_state == 'o';
        sev1 += cs->cs_eid && cs->cs_state == 'o' && cs->cs_sev1;
    }
    ac->ac_cases_open = (int32_t)r_s(r);
    ac->ac_sev1_open = (int32_t)r_s(r);
    if (!r->r_bad && (ac->ac_cases_open != open || ac->ac_sev1_open != sev1))
        r_fail(r, "case counters disagree with the cases");
}

static void dec_cases(rec_r_t *r, jd_account_t *ac)
{
    uint32_t n = r_count(r, 5); /* id length, at, eid flag, state, sev1 */
    if (!(ac->ac_cases = r_array(r, n, sizeof *ac->ac_cases)))
        return;
    ac->ac_ncases = ac->ac_case_cap = n;
    for (uint32_t i = 0; i < n && !r->r_bad; i++)
        dec_case(r, &ac->ac_cases[i], i ? &ac->ac_cases[i - 1] : NULL);
}

static void dec_acts(rec_r_t *r, jd_acts_t *as)
{
    uint32_t n = r_count(r, 9); /* key, value */
    if (!(as->as_v = r_array(r, n, sizeof *as->as_v)))
        return;
    as->as_n = as->as_cap = n;
    for (uint32_t i = 0; i < n && !r->r_bad; i++) {
        as->as_v[i].at_key = r_h(r);
        as->as_v[i].at_val = r_u(r);
        if (i && as->as_v[i - 1].at_key >= as->as_v[i].at_key)
            r_fail(r, "activity not strictly sorted");
    }
}

/* ids[lo, hi) strictly increasing. */
static int dec_sorted_ids(const uint64_t *ids, uint32_t lo, uint32_t hi)
{
    for (uint32_t i = lo + 1; i < hi; i++)
        if (ids[i - 1] >= ids[i])
            return 0;
    return 1;
}

/* A day's n ids (the first dy_usage of them usage ids): each part
 * strictly increasing. */
static void dec_ids(rec_r_t *r, jd_day_t *dy, uint32_t n)
{
    if (!r->r_bad && dy->dy_usage > n)
        r_fail(r, "more usage ids than ids");
    if (!(dy->dy_ids = r_array(r, n, sizeof *dy->dy_ids)))
        return;
    dy->dy_n = dy->dy_cap = n;
    for (uint32_t k = 0; k < n; k++)
        dy->dy_ids[k] = r_h(r);
    if (!dec_sorted_ids(dy->dy_ids, 0, dy->dy_usage) ||
        !dec_sorted_ids(dy->dy_ids, dy->dy_usage, n))
        r_fail(r, "day ids not strictly sorted");
}

/* Version 1: the day, the number of usage ids, every id. */
static void dec_day_v1(rec_r_t *r, jd_day_t *dy, const jd_day_t *prev)
{
    dy->dy_day = r_range(r, 0, REC_DAY_MAX, "day out of range");
    if (!r->r_bad && prev && prev->dy_day >= dy->dy_day)
        r_fail(r, "days not strictly sorted");
    uint64_t usage = r_u(r);
    uint32_t n = r_count(r, 8);
    dy->dy_usage = usage > n ? UINT32_MAX : (uint32_t)usage;
    dec_ids(r, dy, n);
}

/* Version 2 (enc_days): the distance from the previous day, the usage
 * count, 0 (sealed) or 1 + the number of ids, the ids. */
static void dec_day(rec_r_t *r, jd_day_t *dy, const jd_day_t *prev)
{
    uint64_t gap = r_u(r);
    if (!r->r_bad && prev && gap == 0)
        r_fail(r, "days not strictly sorted");
    if (!r->r_bad && gap > (uint64_t)(REC_DAY_MAX - (prev ? prev->dy_day : 0)))
        r_fail(r, "day out of range");
    if (r->r_bad)
        return; /* the gap may be anything: not added */
    dy->dy_day = (prev ? prev->dy_day : 0) + (int64_t)gap;
    uint64_t usage = r_u(r);
    if (!r->r_bad && usage > UINT32_MAX)
        r_fail(r, "usage count out of range");
    dy->dy_usage = (uint32_t)usage;
    uint64_t kept = r_u(r);
    if (r->r_bad)
        return;
    if (kept == 0) {
        dy->dy_sealed = 1;
        return;
    }
    if (kept - 1 > UINT32_MAX || kept - 1 > r->r_left / 8)
        r_fail(r, "count larger than the record can hold");
    else
        dec_ids(r, dy, (uint32_t)(kept - 1));
}

static void dec_days(rec_r_t *r, jd_account_t *ac, int version)
{
    uint32_t n = r_count(r, 3); /* day, usage, count */
    if (!(ac->ac_days = r_array(r, n, sizeof *ac->ac_days)))
        return;
    ac->ac_ndays = ac->ac_day_cap = n;
    for (uint32_t i = 0; i < n && !r->r_bad; i++) {
        const jd_day_t *prev = i ? &ac->ac_days[i - 1] : NULL;
        if (version == 1)
            dec_day_v1(r, &ac->ac_days[i], prev);
        else
            dec_day(r, &ac->ac_days[i], prev);
    }
}

static void dec_nps(rec_r_t *r, jd_account_t *ac)
{
    uint32_t n = r_count(r, 17); /* day, value, hash */
    if (!(ac->ac_nps = r_array(r, n, sizeof *ac->ac_nps)))
        return;
    ac->ac_nnps = ac->ac_nps_cap = n;
    for (uint32_t i = 0; i < n && !r->r_bad; i++) {
        jd_nps_t *np = &ac->ac_nps[i];
        uint64_t u;
        np->np_day = r_range(r, 0, REC_DAY_MAX, "NPS day out of range");
        u = r_h(r);
        memcpy(&np->np_value, &u, sizeof u);
        np->np_hash = r_h(r);
        if (!isfinite(np->np_value))
            r_fail(r, "NPS value not finite");
        if (i && (np[-1].np_day > np->np_day ||
                  (np[-1].np_day == np->np_day && np[-1].np_hash >= np->np_hash)))
            r_fail(r, "NPS answers not strictly sorted");
    }
}

static void dec_rules(rec_r_t *r, jd_account_t *ac)
{
    uint32_t n = r_count(r, 13); /* hash and five varints */
    if (!(ac->ac_rules = r_array(r, n, sizeof *ac->ac_rules)))
        return;
    ac->ac_nrules = ac->ac_rule_cap = n;
    for (uint32_t i = 0; i < n && !r->r_bad; i++) {
        jd_arule_t *ar = &ac->ac_rules[i];
        ar->ar_hash = r_h(r);
        ar->ar_state.rs_open = (int)r_range(r, 0, 1, "bad rule open flag");
        ar->ar_state.rs_opened_at = r_s(r);
        ar->ar_state.rs_last_fired_at = r_s(r);
        ar->ar_state.rs_episode = r_u(r);
        ar->ar_state.rs_since = r_s(r);
        if (i && ar[-1].ar_hash >= ar->ar_hash)
            r_fail(r, "rules not strictly sorted");
    }
}

static void dec_tail(rec_r_t *r, jd_account_t *ac)
{
    ac->ac_stage = (int)r_range(r, -1, JD_STAGE__COUNT - 1, "bad stage");
    ac->ac_prev_stage = (int)r_range(r, -1, JD_STAGE__COUNT - 1, "bad stage");
    ac->ac_stage_changed_at = r_s(r);
    ac->ac_stage_seq = r_s(r);
    ac->ac_timer_at = r_s(r);
    ac->ac_rules_at = r_s(r);
    uint32_t n = r_count(r, 10); /* topic, partition, offset */
    if (!(ac->ac_pos = r_array(r, n, sizeof *ac->ac_pos)))
        return;
    ac->ac_npos = ac->ac_pos_cap = n;
    for (uint32_t i = 0; i < n && !r->r_bad; i++) {
        ac->ac_pos[i].po_topic = r_h(r);
        ac->ac_pos[i].po_partition =
            (int32_t)r_range(r, INT32_MIN, INT32_MAX, "partition out of range");
        ac->ac_pos[i].po_offset = r_s(r);
    }
}

/* The head: length and version. The version (1 or JD_RECORD_VERSION),
 * or -1 with err set. */
static int dec_head(const unsigned char *p, size_t len, jd_err_t *err)
{
    if (len < JD_RECORD_HEAD) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_MALFORMED,
                   "account record: %zu bytes, shorter than its %d-byte head",
                   len, JD_RECORD_HEAD);
        return -1;
    }
    if (p[0] != JD_RECORD_VERSION && p[0] != 1) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_MALFORMED,
                   "account record: version %u found, version %d expected "
                   "(or version 1, still read)", p[0], JD_RECORD_VERSION);
        return -1;
    }
    return p[0];
}

static void dec_body(rec_r_t *r, jd_account_t *ac, int version)
{
    dec_scalars(r, ac);
    dec_lww(r, ac);
    dec_cases(r, ac);
    dec_case_counts(r, ac);
    dec_acts(r, &ac->ac_users);
    dec_acts(r, &ac->ac_feats);
    dec_acts(r, &ac->ac_copen);
    dec_days(r, ac, version);
    dec_nps(r, ac);
    dec_rules(r, ac);
    dec_tail(r, ac);
    if (!r->r_bad && r->r_left)
        r_fail(r, "trailing bytes");
}

jd_account_t *jd_record_decode(const void *data, size_t len, int lateness_days,
                               jd_err_t *err)
{
    const unsigned char *p = data;
    int version = dec_head(p, len, err);
    if (version < 0)
        return NULL;
    jd_account_t *ac = calloc(1, sizeof *ac);
    if (!ac) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM,
                   "account record: out of memory");
        return NULL;
    }
    rec_r_t r = {p + JD_RECORD_HEAD, len - JD_RECORD_HEAD, len, err, 0};
    ac->ac_epoch = jd_record_epoch(p, len);
    ac->ac_win_day = INT64_MIN; /* not computed: see the top of the file */
    dec_body(&r, ac, version);
    if (r.r_bad) {
        jd_account_destroy(ac);
        return NULL;
    }
    if (ac->ac_as_of != JD_SIGNALS_NO_TS)
        jd__account_days_seal(ac, jd_window_horizon(jd_window_day(ac->ac_as_of),
                                                    lateness_days));
    return ac;
}
