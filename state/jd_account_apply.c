/*
 * jd_account_apply: the per-event apply of jd_account (contract in
 * jd_account.h; every signal is defined in docs/signals.md), with what it
 * keeps per event: activity masks, the event ids of each day, NPS
 * answers, the kept windows, last-writer-wins values and case states.
 *
 * What an event means is decided here, once: whether it is usage (its type
 * is in state.usage_events), its user, its core feature, whether it is a
 * value event, its case and the last-writer-wins values it carries. The
 * apply then does only commutative, idempotent updates (min, max,
 * last-writer-wins by (occurred_at, event_id), set inserts, activity-mask
 * unions), so any order of the same events gives the same record, except
 * for what is too late.
 *
 * One thing is counted rather than set: a day's usage count (the events
 * windows, days active). It is exact because it moves only with a new id
 * in the day's id list, and those lists are kept for the lateness horizon
 * [D-L+1, D] only (state.lateness_days): when D moves, the days that left
 * it are sealed (ids freed, count kept until the day leaves the retention
 * horizon [D-R+1, D]). An event of an earlier or sealed day cannot be told
 * from a re-send, so nothing counted may follow from it: a usage event is
 * too late (JD_ACCOUNT_LATE: no window moves, not even through the
 * activity masks, so that the windows stay a function of the on-time
 * events) and keeps its other effects; an event of another type applies
 * what it does, all of it idempotent (milestones, latest-of,
 * last-writer-wins, case states, the opened-case mask, NPS answers keyed
 * by their own hash), as often as it comes.
 *
 * Windows are kept per event. Every window counts members (users, core
 * features, opened cases) whose activity mask has a bit in its span, or
 * sums the usage ids of its days. While the as-of day D stays, one event
 * changes one member's mask and one day's count, so the window moves by
 * the difference that member makes (am_delta) or that day makes; when D
 * moves (at most once per day of an account's life) the horizon is
 * pruned and every window is counted again from scratch
 * (jd_account_windows), which is also what inspect --as-of and timers use
 * at other instants. The unit tests check that both ways agree.
 *
 * Pure: no I/O, no clock; any thread, one account at a time. The record
 * owns what the apply adds to it (arrays grown with jd__account_grow);
 * the event and the configuration are borrowed. On an allocation failure
 * the call returns JD_ACCOUNT_NOMEM.
 */
#include "jd_account.h"
#include "jd_account_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AC_SPAN_BITS JD_ACCOUNT_REACH
#define AC_MASK ((UINT64_C(1) << AC_SPAN_BITS) - 1)
#define AC_TS_MAX INT64_C(10000000000000) /* 10^13 ms */

static const char *const ac_lww_names[JD_LWW__COUNT] = {
    "segment", "plan", "seats", "arr", "status", "renewal_at", "nps_last",
    "csat_last"};

const char *jd_account_lww_name(jd_lww_id_t id)
{
    return (unsigned)id < JD_LWW__COUNT ? ac_lww_names[id] : NULL;
}
/* ---- what an event means -------------------------------------------------- */

static int ac_find(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (list[i] && strcmp(list[i], s) == 0)
            return (int)i;
    return -1;
}

/* The meaning of one event, decided once. */
typedef struct ac_ev {
    int64_t     e_t, e_day;
    uint64_t    e_hash;
    int         e_usage, e_value, e_core;  /* e_core: index or -1 */
    const char *e_case;                    /* case event: its id */
    char        e_case_state;              /* 'o' / 'c' */
    int         e_sev1;
    double      e_nps, e_csat;             /* NAN when none */
} ac_ev_t;

static const char *ac_type_name(const jd_event_t *ev)
{
    return ev->ev_type != JD_EV_UNKNOWN ? jd_event_type_name(ev->ev_type)
                                        : ev->ev_type_name;
}

static int ac_is_sev1(const char *sev)
{
    return sev && (strcasecmp(sev, "sev1") == 0 || strcmp(sev, "1") == 0 ||
                   strcasecmp(sev, "critical") == 0);
}

static double ac_score(const jd_event_t *ev, jd_event_type_t t, double lo,
                       double hi)
{
    return ev->ev_type == t && ev->ev_has_value && ev->ev_value >= lo &&
                   ev->ev_value <= hi ? ev->ev_value : NAN;
}

static void ac_meaning(const jd_account_conf_t *cf, const jd_event_t *ev,
                       ac_ev_t *e)
{
    jd_event_type_t t = ev->ev_type;
    const char *case_id = jd_event_attr(ev, "case_id");

    e->e_t = ev->ev_occurred_at;
    e->e_day = jd_window_day(e->e_t);
    e->e_hash = jd_account_hash(ev->ev_id);
    e->e_usage = ac_find(cf->acf_usage_events, cf->acf_usage_cnt,
                         ac_type_name(ev)) >= 0;
    e->e_value = t == JD_EV_FIRST_VALUE ||
                 (t == JD_EV_FEATURE_USED &&
                  ac_find(cf->acf_value_features, cf->acf_value_cnt,
                          ev->ev_feature) >= 0);
    e->e_core = e->e_usage ? ac_find(cf->acf_core_features, cf->acf_core_cnt,
                                     ev->ev_feature) : -1;
    e->e_case = (t == JD_EV_CASE_OPENED || t == JD_EV_CASE_CLOSED) ? case_id
                                                                    : NULL;
    e->e_case_state = t == JD_EV_CASE_OPENED ? 'o' : 'c';
    e->e_sev1 = e->e_case && t == JD_EV_CASE_OPENED &&
                ac_is_sev1(jd_event_attr(ev, "severity"));
    e->e_nps = ac_score(ev, JD_EV_NPS_RESPONSE, 0, 10);
    e->e_csat = ac_score(ev, JD_EV_CSAT_RESPONSE, 1, 5);
}

/* ---- activity masks --------------------------------------------------------- */

/* Adds day d to an activity value (0: none yet). */
static uint64_t ac_act_merge(uint64_t v, int64_t d)
{
    uint64_t nd = (uint64_t)d;
    if (v == 0)
        return (nd << AC_SPAN_BITS) | 1;
    uint64_t last = v >> AC_SPAN_BITS, mask = v & AC_MASK;
    if (nd > last) {
        uint64_t shift = nd - last;
        if (shift >= AC_SPAN_BITS)
            return (nd << AC_SPAN_BITS) | 1;
        return (nd << AC_SPAN_BITS) | ((mask << shift) & AC_MASK) | 1;
    }
    uint64_t k = last - nd;
    return k < AC_SPAN_BITS ? v | (UINT64_C(1) << k) : v;
}

/* The mask of v seen from day `day`: bit k = active on day-k. */
static uint64_t ac_act_at(uint64_t v, int64_t day)
{
    int64_t shift = day - (int64_t)(v >> AC_SPAN_BITS);
    uint64_t mask = v & AC_MASK;
    if (shift >= AC_SPAN_BITS || shift <= -AC_SPAN_BITS)
        return 0;
    return shift >= 0 ? (mask << shift) & AC_MASK : mask >> -shift;
}

/* 1 when the mask (seen from D) counts in the window ws. */
static int ac_spec_counts(const jd_window_spec_t *ws, uint64_t dm)
{
    int width = ws->ws_back_last - ws->ws_back_first + 1;
    uint64_t bits = (dm >> ws->ws_back_first) & ((UINT64_C(1) << width) - 1);
    if (!bits)
        return 0;
    return ws->ws_kind != JD_WINDOW_POWER ||
           __builtin_popcountll(bits) >= ws->ws_param;
}

static int ac_spec_of(jd_window_kind_t k, int kind)
{
    if (kind == 'u')
        return k == JD_WINDOW_USERS || k == JD_WINDOW_POWER;
    if (kind == 'f')
        return k == JD_WINDOW_FEATURES;
    return k == JD_WINDOW_CASES;
}

/* Adds the contribution of mask v (seen from day) to every window of its
 * kind, times sign. */
static void ac_act_count(const jd_account_conf_t *cf, int kind, uint64_t v,
                         int64_t day, int sign, int64_t *win)
{
    const jd_window_spec_t *specs = cf->acf_specs;
    uint64_t dm = ac_act_at(v, day);
    if (!dm || (kind == 'f' && cf->acf_core_cnt == 0))
        return;
    for (int w = 0; w < JD_W__COUNT; w++) {
        if (ac_spec_of(specs[w].ws_kind, kind) && ac_spec_counts(&specs[w], dm))
            win[w] += sign;
    }
}

static uint32_t ac_act_find(const jd_acts_t *as, uint64_t key, int *found)
{
    uint32_t lo = 0, hi = as->as_n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (as->as_v[mid].at_key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < as->as_n && as->as_v[lo].at_key == key;
    return lo;
}

/* Adds day d to member key; *old and *nv get the values before and after. */
static int ac_act_add(jd_acts_t *as, uint64_t key, int64_t d, uint64_t *old,
                      uint64_t *nv)
{
    int found;
    uint32_t i = ac_act_find(as, key, &found);
    if (!found) {
        if (jd__account_grow(&as->as_v, as->as_n, &as->as_cap, sizeof *as->as_v) != 0)
            return -1;
        memmove(&as->as_v[i + 1], &as->as_v[i],
                (as->as_n - i) * sizeof *as->as_v);
        as->as_n++;
        as->as_v[i].at_key = key;
        as->as_v[i].at_val = 0;
    }
    *old = as->as_v[i].at_val;
    *nv = as->as_v[i].at_val = ac_act_merge(*old, d);
    return 0;
}

/* Drops members whose latest day is before oldest: they count nowhere. */
static void ac_act_prune(jd_acts_t *as, int64_t oldest)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < as->as_n; i++)
        if ((int64_t)(as->as_v[i].at_val >> AC_SPAN_BITS) >= oldest)
            as->as_v[k++] = as->as_v[i];
    as->as_n = k;
}

/* ---- days: event id hashes -------------------------------------------------- */

static uint32_t ac_day_find(const jd_account_t *ac, int64_t day, int *found)
{
    uint32_t lo = 0, hi = ac->ac_ndays;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ac->ac_days[mid].dy_day < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < ac->ac_ndays && ac->ac_days[lo].dy_day == day;
    return lo;
}

static jd_day_t *ac_day_get(jd_account_t *ac, int64_t day)
{
    int found;
    uint32_t i = ac_day_find(ac, day, &found);
    if (found)
        return &ac->ac_days[i];
    if (jd__account_grow(&ac->ac_days, ac->ac_ndays, &ac->ac_day_cap,
                         sizeof *ac->ac_days) != 0)
        return NULL;
    memmove(&ac->ac_days[i + 1], &ac->ac_days[i],
            (ac->ac_ndays - i) * sizeof *ac->ac_days);
    ac->ac_ndays++;
    memset(&ac->ac_days[i], 0, sizeof ac->ac_days[i]);
    ac->ac_days[i].dy_day = day;
    return &ac->ac_days[i];
}

/* Position of h in ids[lo, hi) (sorted); *found when present. */
static uint32_t ac_ids_find(const uint64_t *ids, uint32_t lo, uint32_t hi,
                            uint64_t h, int *found)
{
    uint32_t end = hi;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < end && ids[lo] == h;
    return lo;
}

/* Records h in the day's usage or other part. 1: new, 0: seen, -1: no
 * memory. */
static int ac_day_record(jd_day_t *dy, uint64_t h, int usage)
{
    int found;
    uint32_t lo = usage ? 0 : dy->dy_usage, hi = usage ? dy->dy_usage : dy->dy_n;
    uint32_t i = ac_ids_find(dy->dy_ids, lo, hi, h, &found);
    if (found)
        return 0;
    if (jd__account_grow(&dy->dy_ids, dy->dy_n, &dy->dy_cap, sizeof *dy->dy_ids) != 0)
        return -1;
    memmove(&dy->dy_ids[i + 1], &dy->dy_ids[i],
            (dy->dy_n - i) * sizeof *dy->dy_ids);
    dy->dy_ids[i] = h;
    dy->dy_n++;
    if (usage)
        dy->dy_usage++;
    return 1;
}

void jd__account_days_seal(jd_account_t *ac, int64_t oldest)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < ac->ac_ndays; i++) {
        jd_day_t *dy = &ac->ac_days[i];
        if (dy->dy_day < oldest && !dy->dy_sealed) {
            free(dy->dy_ids);
            dy->dy_ids = NULL;
            dy->dy_n = dy->dy_cap = 0;
            dy->dy_sealed = 1;
        }
        if (dy->dy_usage || !dy->dy_sealed)
            ac->ac_days[k++] = *dy;
    }
    ac->ac_ndays = k;
}

/* 1 when the day is kept sealed (its ids dropped). */
static int ac_day_sealed(const jd_account_t *ac, int64_t day)
{
    int found;
    uint32_t i = ac_day_find(ac, day, &found);
    return found && ac->ac_days[i].dy_sealed;
}

static void ac_days_prune(jd_account_t *ac, int64_t oldest)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < ac->ac_ndays; i++) {
        if (ac->ac_days[i].dy_day >= oldest)
            ac->ac_days[k++] = ac->ac_days[i];
        else
            free(ac->ac_days[i].dy_ids);
    }
    ac->ac_ndays = k;
}

/* Adds one day's usage count to the E and A windows seen from day. */
static void ac_day_count(int64_t d, uint32_t usage, int64_t day, int64_t *win)
{
    int64_t back = day - d;
    if (back < 0 || back >= JD_ACCOUNT_REACH || usage == 0)
        return;
    if (back <= 6)
        win[JD_W_EVENTS_7D] += usage;
    if (back <= 27) {
        win[JD_W_EVENTS_28D] += usage;
        win[JD_W_DAYS_ACTIVE_28D] += 1;
    }
}

/* ---- NPS answers -------------------------------------------------------------- */

void jd__account_nps_total(jd_account_t *ac, int64_t day)
{
    ac->ac_nps_cnt = 0;
    ac->ac_nps_sum = 0;
    for (uint32_t i = 0; i < ac->ac_nnps; i++) {
        if (ac->ac_nps[i].np_day > day ||
            ac->ac_nps[i].np_day < day - JD_ACCOUNT_NPS_DAYS + 1)
            continue;
        ac->ac_nps_cnt++;
        ac->ac_nps_sum += ac->ac_nps[i].np_value;
    }
}

static int ac_nps_cmp(const jd_nps_t *a, int64_t day, uint64_t h)
{
    if (a->np_day != day)
        return a->np_day < day ? -1 : 1;
    return a->np_hash < h ? -1 : a->np_hash > h;
}

static int ac_nps_add(jd_account_t *ac, int64_t day, double v, uint64_t h)
{
    uint32_t i = 0;
    while (i < ac->ac_nnps && ac_nps_cmp(&ac->ac_nps[i], day, h) < 0)
        i++;
    if (i < ac->ac_nnps && ac_nps_cmp(&ac->ac_nps[i], day, h) == 0)
        return 0;
    if (jd__account_grow(&ac->ac_nps, ac->ac_nnps, &ac->ac_nps_cap,
                         sizeof *ac->ac_nps) != 0)
        return -1;
    memmove(&ac->ac_nps[i + 1], &ac->ac_nps[i],
            (ac->ac_nnps - i) * sizeof *ac->ac_nps);
    ac->ac_nps[i] = (jd_nps_t){day, v, h};
    ac->ac_nnps++;
    return 1;
}

static void ac_nps_prune(jd_account_t *ac, int64_t oldest)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < ac->ac_nnps; i++)
        if (ac->ac_nps[i].np_day >= oldest)
            ac->ac_nps[k++] = ac->ac_nps[i];
    ac->ac_nnps = k;
}

/* ---- windows ------------------------------------------------------------------ */

void jd_account_windows(const jd_account_t *ac, const jd_account_conf_t *cf,
                        int64_t day, int64_t *win)
{
    memset(win, 0, JD_W__COUNT * sizeof *win);
    for (uint32_t i = 0; i < ac->ac_users.as_n; i++)
        ac_act_count(cf, 'u', ac->ac_users.as_v[i].at_val, day, 1, win);
    for (uint32_t i = 0; i < ac->ac_feats.as_n; i++)
        ac_act_count(cf, 'f', ac->ac_feats.as_v[i].at_val, day, 1, win);
    for (uint32_t i = 0; i < ac->ac_copen.as_n; i++)
        ac_act_count(cf, 'c', ac->ac_copen.as_v[i].at_val, day, 1, win);
    for (uint32_t i = 0; i < ac->ac_ndays; i++)
        ac_day_count(ac->ac_days[i].dy_day, ac->ac_days[i].dy_usage, day, win);
}

/* The windows kept for the as-of day: recomputed when D moved. */
static void ac_windows_refresh(jd_account_t *ac, const jd_account_conf_t *cf)
{
    int64_t day = jd_window_day(ac->ac_as_of);
    if (ac->ac_as_of == JD_SIGNALS_NO_TS || ac->ac_win_day == day)
        return;
    jd_account_windows(ac, cf, day, ac->ac_win);
    jd__account_nps_total(ac, day);
    ac->ac_win_day = day;
}

/* The windows move by the difference one member's mask makes. */
static void ac_act_delta(jd_account_t *ac, const jd_account_conf_t *cf,
                         int kind, uint64_t old, uint64_t nv)
{
    if (ac->ac_win_day == INT64_MIN || old == nv)
        return;
    if (old)
        ac_act_count(cf, kind, old, ac->ac_win_day, -1, ac->ac_win);
    ac_act_count(cf, kind, nv, ac->ac_win_day, 1, ac->ac_win);
}

/* ---- last-writer-wins ------------------------------------------------------------ */

/* > 0 when (at, eid, val) is newer than the stored (lw). */
static int ac_newer(int64_t at, const char *eid, const char *val,
                    int64_t lat, const char *leid, const char *lval)
{
    if (at != lat)
        return at > lat;
    int c = strcmp(eid, leid);
    if (c)
        return c > 0;
    return strcmp(val, lval) > 0;
}

static int ac_lww_offer(jd_lww_t *lw, int64_t at, const char *eid,
                        const char *val)
{
    if (lw->lw_val && !ac_newer(at, eid, val, lw->lw_at, lw->lw_eid, lw->lw_val))
        return 0;
    char *e = strdup(eid), *v = strdup(val);
    if (!e || !v) {
        free(e);
        free(v);
        return -1;
    }
    free(lw->lw_eid);
    free(lw->lw_val);
    lw->lw_at = at;
    lw->lw_eid = e;
    lw->lw_val = v;
    jd__account_lww_parse(lw);
    return 1;
}

static int ac_lww_num(jd_account_t *ac, jd_lww_id_t id, double v,
                      const ac_ev_t *e, const char *eid)
{
    char buf[32];
    if (isnan(v))
        return 0;
    snprintf(buf, sizeof buf, "%.17g", v);
    return ac_lww_offer(&ac->ac_lww[id], e->e_t, eid, buf) < 0 ? -1 : 0;
}

static int ac_lww_apply(jd_account_t *ac, const jd_event_t *ev,
                        const ac_ev_t *e)
{
    for (size_t i = 0; ev->ev_type == JD_EV_ACCOUNT_UPDATED &&
                       i < ev->ev_attr_cnt; i++) {
        const jd_attr_t *at = &ev->ev_attrs[i];
        char buf[32];
        const char *val;
        if (jd_signals_attr_normalize(at->at_key, at->at_val, &val, buf,
                                      sizeof buf) != 1)
            continue;
        for (int k = 0; k <= JD_LWW_RENEWAL_AT; k++)
            if (strcmp(at->at_key, ac_lww_names[k]) == 0 &&
                ac_lww_offer(&ac->ac_lww[k], e->e_t, ev->ev_id, val) < 0)
                return -1;
    }
    if (ac_lww_num(ac, JD_LWW_NPS_LAST, e->e_nps, e, ev->ev_id) < 0 ||
        ac_lww_num(ac, JD_LWW_CSAT_LAST, e->e_csat, e, ev->ev_id) < 0)
        return -1;
    return 0;
}

/* ---- cases ----------------------------------------------------------------------- */

static uint32_t ac_case_find(const jd_account_t *ac, const char *id, int *found)
{
    uint32_t lo = 0, hi = ac->ac_ncases;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (strcmp(ac->ac_cases[mid].cs_id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < ac->ac_ncases && strcmp(ac->ac_cases[lo].cs_id, id) == 0;
    return lo;
}

static jd_case_t *ac_case_get(jd_account_t *ac, const char *id)
{
    int found;
    uint32_t i = ac_case_find(ac, id, &found);
    if (found)
        return &ac->ac_cases[i];
    char *cid = strdup(id);
    if (!cid || jd__account_grow(&ac->ac_cases, ac->ac_ncases, &ac->ac_case_cap,
                                 sizeof *ac->ac_cases) != 0) {
        free(cid);
        return NULL;
    }
    memmove(&ac->ac_cases[i + 1], &ac->ac_cases[i],
            (ac->ac_ncases - i) * sizeof *ac->ac_cases);
    ac->ac_ncases++;
    memset(&ac->ac_cases[i], 0, sizeof ac->ac_cases[i]);
    ac->ac_cases[i].cs_id = cid;
    return &ac->ac_cases[i];
}

/* Last-writer-wins per case: by stamp, then by state ("o1" > "o0" >
 * "c0"); the open and sev1 counts follow the transitions. */
static int ac_case_apply(jd_account_t *ac, const jd_event_t *ev,
                         const ac_ev_t *e)
{
    char nv[3] = {e->e_case_state, e->e_sev1 ? '1' : '0', 0};
    jd_case_t *cs = ac_case_get(ac, e->e_case);
    if (!cs)
        return -1;
    if (cs->cs_eid) {
        char ov[3] = {cs->cs_state, cs->cs_sev1 ? '1' : '0', 0};
        if (!ac_newer(e->e_t, ev->ev_id, nv, cs->cs_at, cs->cs_eid, ov))
            return 0;
    }
    char *eid = strdup(ev->ev_id);
    if (!eid)
        return -1;
    if (cs->cs_eid) {
        ac->ac_cases_open -= cs->cs_state == 'o';
        ac->ac_sev1_open -= cs->cs_state == 'o' && cs->cs_sev1;
    }
    free(cs->cs_eid);
    cs->cs_eid = eid;
    cs->cs_at = e->e_t;
    cs->cs_state = nv[0];
    cs->cs_sev1 = (char)e->e_sev1;
    ac->ac_cases_open += cs->cs_state == 'o';
    ac->ac_sev1_open += cs->cs_state == 'o' && cs->cs_sev1;
    return 0;
}

/* ---- the apply ------------------------------------------------------------------- */

static void ac_min(int64_t *cur, int64_t t)
{
    if (*cur == JD_SIGNALS_NO_TS || t < *cur)
        *cur = t;
}

static void ac_max(int64_t *cur, int64_t t)
{
    if (*cur == JD_SIGNALS_NO_TS || t > *cur)
        *cur = t;
}

/* The as-of instant moves to t when later; when its day moves, what left
 * the horizons is dropped (days that left the lateness horizon are
 * sealed) and the windows are due for a recount. */
static void ac_advance(jd_account_t *ac, const jd_account_conf_t *cf,
                       int64_t t)
{
    if (ac->ac_as_of != JD_SIGNALS_NO_TS && t <= ac->ac_as_of)
        return;
    int64_t old = ac->ac_as_of == JD_SIGNALS_NO_TS
                      ? INT64_MIN : jd_window_day(ac->ac_as_of);
    ac->ac_as_of = t;
    int64_t day = jd_window_day(t);
    if (day == old)
        return;
    ac_days_prune(ac, jd_window_horizon(day, cf->acf_retention_days));
    jd__account_days_seal(ac, jd_window_horizon(day, cf->acf_lateness_days));
    ac_act_prune(&ac->ac_users, day - (JD_ACCOUNT_REACH - 1));
    ac_act_prune(&ac->ac_feats, day - (JD_ACCOUNT_REACH - 1));
    ac_act_prune(&ac->ac_copen, day - (JD_ACCOUNT_REACH - 1));
    ac_nps_prune(ac, day - JD_ACCOUNT_NPS_DAYS + 1);
    ac->ac_win_day = INT64_MIN;
}

/* Milestones, latest-of values, last-writer-wins values and case states:
 * whatever the event's age. */
static int ac_scalars(jd_account_t *ac, const jd_event_t *ev, const ac_ev_t *e)
{
    jd_event_type_t t = ev->ev_type;
    if (t == JD_EV_ACCOUNT_CREATED || t == JD_EV_CONTRACT_SIGNED)
        ac_min(&ac->ac_start_at, e->e_t);
    if (t == JD_EV_KICKOFF)
        ac_min(&ac->ac_kickoff_at, e->e_t);
    if (t == JD_EV_GO_LIVE)
        ac_min(&ac->ac_go_live_at, e->e_t);
    if (e->e_value)
        ac_min(&ac->ac_first_value_at, e->e_t);
    if (t == JD_EV_VALUE_REALIZED)
        ac_min(&ac->ac_value_realized_at, e->e_t);
    if (e->e_usage)
        ac_max(&ac->ac_last_usage_at, e->e_t);
    if (t == JD_EV_SPONSOR_CHANGED)
        ac_max(&ac->ac_sponsor_changed_at, e->e_t);
    ac_max(&ac->ac_last_event_at, e->e_t);
    if (ac_lww_apply(ac, ev, e) != 0)
        return -1;
    return e->e_case ? ac_case_apply(ac, ev, e) : 0;
}

/* An NPS answer inside its own horizon (the as-of day after the event). */
static int ac_nps_apply(jd_account_t *ac, const ac_ev_t *e)
{
    int64_t day = jd_window_day(ac->ac_as_of);
    if (isnan(e->e_nps) || e->e_day < day - JD_ACCOUNT_NPS_DAYS + 1)
        return 0;
    int rc = ac_nps_add(ac, e->e_day, e->e_nps, e->e_hash);
    if (rc > 0 && ac->ac_win_day != INT64_MIN)
        jd__account_nps_total(ac, ac->ac_win_day);
    return rc < 0 ? -1 : 0;
}

/* Activity of a new event inside the horizon, with the window deltas. */
static int ac_activity(jd_account_t *ac, const jd_account_conf_t *cf,
                       const jd_event_t *ev, const ac_ev_t *e)
{
    uint64_t old, nv;
    if (e->e_usage && ev->ev_user && *ev->ev_user) {
        if (ac_act_add(&ac->ac_users, jd_account_hash(ev->ev_user), e->e_day,
                       &old, &nv) != 0)
            return -1;
        ac_act_delta(ac, cf, 'u', old, nv);
    }
    if (e->e_core >= 0) {
        if (ac_act_add(&ac->ac_feats, (uint64_t)e->e_core, e->e_day, &old,
                       &nv) != 0)
            return -1;
        ac_act_delta(ac, cf, 'f', old, nv);
    }
    if (e->e_case && e->e_case_state == 'o') {
        if (ac_act_add(&ac->ac_copen, jd_account_hash(e->e_case), e->e_day,
                       &old, &nv) != 0)
            return -1;
        ac_act_delta(ac, cf, 'c', old, nv);
    }
    return 0;
}

/* The event's id in its day: 1 new, 0 duplicate, -1 no memory. The usage
 * windows move with a new usage id. */
static int ac_record(jd_account_t *ac, const ac_ev_t *e)
{
    jd_day_t *dy = ac_day_get(ac, e->e_day);
    if (!dy)
        return -1;
    uint32_t before = dy->dy_usage;
    int rc = ac_day_record(dy, e->e_hash, e->e_usage);
    if (rc == 1 && e->e_usage && ac->ac_win_day != INT64_MIN) {
        int64_t w[JD_W__COUNT] = {0};
        ac_day_count(e->e_day, 1, ac->ac_win_day, w);
        ac->ac_win[JD_W_EVENTS_7D] += w[JD_W_EVENTS_7D];
        ac->ac_win[JD_W_EVENTS_28D] += w[JD_W_EVENTS_28D];
        if (before == 0)
            ac->ac_win[JD_W_DAYS_ACTIVE_28D] += w[JD_W_DAYS_ACTIVE_28D];
    }
    return rc;
}

/* The day-keyed part of an event, by its day against the horizons of the
 * as-of day: inside the lateness horizon (and not sealed) its id is
 * recorded (a duplicate stops here) and its activity added; before it, a
 * usage event is too late and another one adds its (idempotent) activity
 * while its day is retained. A jd_account_rc_t. */
static int ac_days_part(jd_account_t *ac, const jd_account_conf_t *cf,
                        const jd_event_t *ev, const ac_ev_t *e)
{
    int64_t day = jd_window_day(ac->ac_as_of);
    if (e->e_day >= jd_window_horizon(day, cf->acf_lateness_days) &&
        !ac_day_sealed(ac, e->e_day)) {
        int fresh = ac_record(ac, e);
        if (fresh <= 0)
            return fresh < 0 ? JD_ACCOUNT_NOMEM : JD_ACCOUNT_DUPLICATE;
    } else if (e->e_usage) {
        return JD_ACCOUNT_LATE;
    } else if (e->e_day < jd_window_horizon(day, cf->acf_retention_days)) {
        return JD_ACCOUNT_APPLIED;
    }
    return ac_activity(ac, cf, ev, e) != 0 ? JD_ACCOUNT_NOMEM : JD_ACCOUNT_APPLIED;
}

int jd_account_apply(jd_account_t *ac, const jd_account_conf_t *cf,
                     const jd_event_t *ev)
{
    ac_ev_t e;
    if (!ev->ev_id || !*ev->ev_id || ev->ev_occurred_at < 0 ||
        ev->ev_occurred_at >= AC_TS_MAX)
        return JD_ACCOUNT_REJECTED;
    ac_meaning(cf, ev, &e);
    ac_advance(ac, cf, e.e_t);
    ac_windows_refresh(ac, cf);
    int rc = ac_days_part(ac, cf, ev, &e);
    if (rc == JD_ACCOUNT_NOMEM || rc == JD_ACCOUNT_DUPLICATE)
        return rc;
    if (ac_scalars(ac, ev, &e) != 0 || ac_nps_apply(ac, &e) != 0)
        return JD_ACCOUNT_NOMEM;
    return rc;
}
