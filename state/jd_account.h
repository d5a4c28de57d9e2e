/*
 * jd_account: one account's journey state as a plain C record, and the
 * per-event apply that moves it on. Pure: no I/O, no clock; any thread,
 * one account at a time.
 *
 * A jd_account_t holds everything docs/signals.md derives signals from:
 * the as-of instant T (latest occurred_at), milestones (min), latest-of
 * values (max), last-writer-wins attributes with their stamps
 * (occurred_at, event_id), case states, activity masks of users, core
 * features and opened cases (latest day plus a 35-bit mask of the days
 * before it), the usage count of every day of the retention horizon (the
 * usage windows) with the 64-bit hashes of the event ids of the days of
 * the lateness horizon only (de-duplication), the NPS answers of 90
 * days, the rule states, the stored journey stage and the input positions
 * the record includes. The usage windows are kept
 * up to date per event (jd_account_apply adjusts them by the difference
 * one member makes) and recomputed from scratch only when the as-of day
 * moves; jd_account_windows computes them from scratch at any day, and
 * the unit tests hold the two equal.
 *
 * Ownership: a jd_account_t owns every array and string it points to;
 * jd_account_new allocates one, jd_account_destroy frees it (NULL is
 * fine). jd_account_conf_t is borrowed by every call and must outlive it.
 * Allocation failures leave the record unchanged and return
 * JD_ACCOUNT_NOMEM.
 */
#ifndef JD_ACCOUNT_H
#define JD_ACCOUNT_H

#include <stddef.h>
#include <stdint.h>

#include "jd_decide.h"
#include "jd_event.h"
#include "jd_sighash.h"
#include "jd_signals.h"
#include "jd_window.h"

/* Farthest reach of an activity mask (days, D included). */
#define JD_ACCOUNT_REACH JD_WINDOW_MAX_DAYS
/* NPS answers are kept for the days [D-89, D]. */
#define JD_ACCOUNT_NPS_DAYS 90
/* Core features the configuration may name. */
#define JD_ACCOUNT_CORE_MAX 1000

/* What the apply needs to know of the configuration (borrowed). */
typedef struct jd_account_conf {
    int                 acf_retention_days;   /* R, 35..3650 */
    int                 acf_lateness_days;    /* L, 1..R: days with their ids */
    int                 acf_power_user_days;  /* 1..28 */
    const char *const  *acf_usage_events;     /* event types that are usage */
    size_t              acf_usage_cnt;
    const char *const  *acf_value_features;   /* feature_used of these is value */
    size_t              acf_value_cnt;
    const char *const  *acf_core_features;    /* feature breadth counts these */
    size_t              acf_core_cnt;
    const jd_signals_conf_t *acf_signals;     /* derivation thresholds */
    jd_window_spec_t    acf_specs[JD_W__COUNT]; /* set by jd_account_conf_ready */
} jd_account_conf_t;

/* Fills cf->acf_specs from acf_power_user_days: call it once the fields
 * above are set, before any other call takes cf. */
void jd_account_conf_ready(jd_account_conf_t *cf);

/* The last-writer-wins values, in the order they are stored. */
typedef enum jd_lww_id {
    JD_LWW_SEGMENT = 0,
    JD_LWW_PLAN,
    JD_LWW_SEATS,
    JD_LWW_ARR,
    JD_LWW_STATUS,
    JD_LWW_RENEWAL_AT,
    JD_LWW_NPS_LAST,
    JD_LWW_CSAT_LAST,
    JD_LWW__COUNT
} jd_lww_id_t;

/* Name of a last-writer-wins value as jd_signals_raw_set_attr knows it. */
const char *jd_account_lww_name(jd_lww_id_t id);

/* A last-writer-wins value: wins the event with the greatest
 * (lw_at, lw_eid), then the greatest value (bytewise). lw_val NULL: none. */
typedef struct jd_lww {
    int64_t lw_at;
    char   *lw_eid;
    char   *lw_val;
    /* lw_val parsed once when set (it is read at every event): as an
     * amount (jd_signals_parse_amount) and as an integer */
    double   lw_num;
    int64_t  lw_int;
    unsigned char lw_num_ok, lw_int_ok;
} jd_lww_t;

/* A case: its latest case event (last-writer-wins by stamp, then state). */
typedef struct jd_case {
    char   *cs_id;
    int64_t cs_at;
    char   *cs_eid;
    char    cs_state;      /* 'o' opened, 'c' closed */
    char    cs_sev1;       /* 1: the latest event opened it as sev1 */
} jd_case_t;

/* An activity entry: member (64-bit hash, or core feature index) ->
 * L * 2^35 + M (see the top of the file). */
typedef struct jd_act {
    uint64_t at_key;
    uint64_t at_val;
} jd_act_t;

typedef struct jd_acts {
    jd_act_t *as_v;        /* sorted by at_key */
    uint32_t  as_n, as_cap;
} jd_acts_t;

/* One UTC day of the retention horizon: its usage count, and while the
 * day is in the lateness horizon [D-L+1, D] the hashes of its event ids,
 * usage ids first (dy_usage of them), then the others, each part sorted.
 * A day that left the lateness horizon is sealed: its ids are freed
 * (dy_ids NULL, dy_n 0), its usage count stays until it leaves the
 * retention horizon, and no event is recorded in it any more. */
typedef struct jd_day {
    int64_t   dy_day;
    uint32_t  dy_usage;    /* the day's usage events */
    uint32_t  dy_n, dy_cap; /* ids held (0 when sealed) */
    uint32_t  dy_sealed;   /* 1: ids dropped, only the count is kept */
    uint64_t *dy_ids;
} jd_day_t;

/* An NPS answer of the last JD_ACCOUNT_NPS_DAYS days. */
typedef struct jd_nps {
    int64_t  np_day;
    double   np_value;
    uint64_t np_hash;      /* event id hash: one answer per event */
} jd_nps_t;

/* A rule's state, by rule id hash (XXH3 of the id), so states survive a
 * change of the rules file (a rule removed and added again keeps it). */
typedef struct jd_arule {
    uint64_t        ar_hash;
    jd_rule_state_t ar_state;
} jd_arule_t;

/* An input position the record includes: every event of (topic,
 * partition) at or below po_offset is in it. */
typedef struct jd_apos {
    uint64_t po_topic;     /* XXH3 of the topic name */
    int32_t  po_partition;
    int64_t  po_offset;
} jd_apos_t;

typedef struct jd_account {
    char       *ac_id;
    int64_t     ac_as_of;            /* T; JD_SIGNALS_NO_TS: no events yet */
    /* milestones (min) and latest-of (max); JD_SIGNALS_NO_TS: none */
    int64_t     ac_start_at, ac_kickoff_at, ac_go_live_at;
    int64_t     ac_first_value_at, ac_value_realized_at;
    int64_t     ac_healthy_adoption_at;
    int64_t     ac_last_event_at, ac_last_usage_at, ac_sponsor_changed_at;
    jd_lww_t    ac_lww[JD_LWW__COUNT];
    jd_case_t  *ac_cases;            /* sorted by cs_id */
    uint32_t    ac_ncases, ac_case_cap;
    int32_t     ac_cases_open, ac_sev1_open;
    jd_acts_t   ac_users, ac_feats, ac_copen;
    jd_day_t   *ac_days;             /* sorted by dy_day */
    uint32_t    ac_ndays, ac_day_cap;
    jd_nps_t   *ac_nps;              /* sorted by (np_day, np_hash) */
    uint32_t    ac_nnps, ac_nps_cap;
    jd_arule_t *ac_rules;            /* sorted by ar_hash */
    uint32_t    ac_nrules, ac_rule_cap;
    /* the journey stage last stored (published) */
    int         ac_stage;            /* jd_stage_t, or -1: none yet */
    int         ac_prev_stage;       /* -1: none */
    int64_t     ac_stage_changed_at; /* JD_SIGNALS_NO_TS: none */
    int64_t     ac_stage_seq;
    int64_t     ac_timer_at;         /* next deadline, 0: none */
    int64_t     ac_rules_at;         /* event time the rules were last
                                        decided at (a timer may be later
                                        than ac_as_of); JD_SIGNALS_NO_TS */
    jd_apos_t  *ac_pos;
    uint32_t    ac_npos, ac_pos_cap;
    uint64_t    ac_epoch;            /* ownership epoch of its last writer */
    void       *ac_home;             /* the jd_cache entry holding it (set and
                                        cleared by jd_cache only), or NULL */
    uint64_t    ac_seq;              /* the last batch that changed it (set by
                                        consumer/jd_batch only; not stored) */
    uint32_t    ac_enc;              /* 1 + its place in the group being
                                        encoded, 0: none (consumer/jd_commit
                                        only; not stored) */
    uint32_t    ac_sig_fh[JD_SIGHASH_FIELDS]; /* the value hashes of the
                                        signals hash last written (0: none
                                        since loaded; not stored, so every
                                        field is written once again) */
    /* the windows at day ac_win_day (kept per event; not stored) */
    int64_t     ac_win_day;          /* INT64_MIN: not computed */
    int64_t     ac_win[JD_W__COUNT];
    int64_t     ac_nps_cnt;          /* answers in [D-89, D] */
    double      ac_nps_sum;
} jd_account_t;

typedef enum jd_account_rc {
    JD_ACCOUNT_APPLIED = 0,   /* new: the state moved on */
    JD_ACCOUNT_DUPLICATE,     /* its event_id was applied before */
    JD_ACCOUNT_LATE,          /* a usage event older than the lateness
                                 horizon: its windows effects are
                                 dropped, the rest applied */
    JD_ACCOUNT_REJECTED,      /* no event_id, or occurred_at outside
                                 [0, 10^13) ms: nothing applied */
    JD_ACCOUNT_NOMEM = -1,    /* out of memory: nothing applied */
} jd_account_rc_t;

/* A new empty record for account id (copied). NULL when out of memory. */
jd_account_t *jd_account_new(const char *id);

/* Frees ac and everything it owns; NULL is fine. */
void jd_account_destroy(jd_account_t *ac);

/* Applies one event (of this account: not re-checked), in place:
 * de-duplication by event id within the lateness horizon, milestones,
 * latest-of, last-writer-wins values, case states, activity, NPS, and the
 * windows kept for the (possibly new) as-of day. Idempotent and
 * commutative for everything but what is too late: a usage event is too
 * late for the windows (JD_ACCOUNT_LATE) when its day is before D-L+1
 * with D the as-of day after this event (or its day is sealed). An event
 * of another type before D-L+1 cannot be told from a re-sent one: it
 * applies its idempotent effects (all it has) and returns
 * JD_ACCOUNT_APPLIED. Returns a jd_account_rc_t. */
int jd_account_apply(jd_account_t *ac, const jd_account_conf_t *cf,
                     const jd_event_t *ev);

/* The windows of jd_signals_win_t at day `day`, from scratch: masks of
 * members whose latest day is after `day` are shifted to it (inspect
 * --as-of), day counts of later days are left out. */
void jd_account_windows(const jd_account_t *ac, const jd_account_conf_t *cf,
                        int64_t day, int64_t *win);

/* The raw aggregates of the signals at the account's own as-of instant
 * (at_ms JD_SIGNALS_NO_TS) or at the instant at_ms (windows at day(at_ms),
 * milestones as stored: jd_signals_derive hides those after at_ms).
 * Strings in raw point into ac and stay valid until ac changes. */
void jd_account_raw(const jd_account_t *ac, const jd_account_conf_t *cf,
                    int64_t at_ms, jd_signals_raw_t *raw);

/* Signals at the own as-of instant or at at_ms (as jd_account_raw), and
 * derived with cf->acf_signals. */
void jd_account_signals(const jd_account_t *ac, const jd_account_conf_t *cf,
                        int64_t at_ms, jd_signals_t *sg);

/* Records what jd_signals_observe found (healthy adoption reached, the
 * stage changed) in ac. */
void jd_account_observe(jd_account_t *ac, const jd_signals_change_t *ch);

/* The state of rule `hash` (the initial state when it has none), and
 * setting it (JD_ACCOUNT_NOMEM when the array could not grow). */
jd_rule_state_t jd_account_rule(const jd_account_t *ac, uint64_t hash);

/* The states of n rules at once (zero for those without one): rule r has
 * hash[r], order[0..n) lists the rules by ascending hash, out[r] takes
 * its state. One pass over the record's sorted states. */
void jd_account_rules_read(const jd_account_t *ac, const uint64_t *hash,
                           const uint32_t *order, size_t n,
                           jd_rule_state_t *out);
int jd_account_rule_set(jd_account_t *ac, uint64_t hash,
                        const jd_rule_state_t *rs);

/* The offset of (topic, partition) the record includes, or -1. */
int64_t jd_account_position(const jd_account_t *ac, uint64_t topic,
                            int32_t partition);
/* Moves it to offset (never backwards); JD_ACCOUNT_NOMEM when the array
 * could not grow. */
int jd_account_position_set(jd_account_t *ac, uint64_t topic,
                            int32_t partition, int64_t offset);

/* Bytes of heap ac holds (for the cache's budget). */
size_t jd_account_bytes(const jd_account_t *ac);

/* A hint, no effect on the record: asks the processor to start loading
 * what the next event of ac will read, so that a loop over a batch can
 * overlap the cache misses of later accounts with the work on this one.
 * part 0 loads the record itself; part 1 the arrays it points to (their
 * addresses are in the record: call it after part 0 had time to land,
 * a few events later). NULL is fine. */
void jd_account_prefetch(const jd_account_t *ac, int part);

/* XXH3 of a string, as the record keys hashes (event, user, rule, topic). */
uint64_t jd_account_hash(const char *s);

/* Stage enum <-> name helpers for the stored stage (-1 for none/NULL). */
int jd_account_stage_parse(const char *name);

#endif
