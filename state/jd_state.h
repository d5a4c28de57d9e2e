/*
 * jd_state: the Redis shell that keeps each account's journey state.
 *
 * Keys of one account all carry the hash tag {T}, T being the account id as
 * a tag (jd_state_key_tag), so they live in one Redis Cluster slot and the
 * Lua scripts that touch them stay atomic:
 *   <prefix>:{T}:meta|attr|attr_ts|days|rules|nps|cases|outbox,
 *   <prefix>:{T}:u|e|x|f|c:<day>
 *   (layout documented in state/apply.lua, state/commit.lua and
 *   docs/state.md, with the memory they take)
 * plus two global sets in their own slots: <prefix>:accounts (every account
 * with state) and <prefix>:outbox (accounts with pending outbox entries);
 * their members are the account ids verbatim.
 *
 * Account ids are arbitrary strings. Redis hashes the bytes between the
 * first '{' of a key and the first '}' after it, so an id containing '}'
 * would move its keys to another slot (and could collide with another id's
 * keys). Such ids are escaped, not rejected: T is the id with '%' written
 * as "%25" and '}' as "%7D" (the empty id as "%00"), which is injective and
 * leaves every other id, ':' '{' and spaces included, readable in
 * redis-cli. The prefix may not contain '{' or '}' (jd_state_new checks).
 *
 * Updates are idempotent and commutative (set inserts, min/max, LWW by
 * (occurred_at, event_id)), so replays and duplicates converge. What each
 * event means for the state (usage or not, which user, feature, case) is
 * decided here in C; ids, users and case ids in per-day sets are stored as
 * 64-bit XXH3 hashes (compact integer sets; a collision between two of an
 * account's ids within its horizon, odds about n^2 / 2^65, would merge
 * them). docs/signals.md defines every signal this state yields.
 *
 * One batch costs one pipelined round trip for apply (one EVALSHA per
 * account, plus one SADD of all its accounts into the index) and one for
 * commit (one EVALSHA per account with rule changes, plus two index SADDs).
 * Scripts are loaded once per connection (SCRIPT LOAD) and re-loaded after
 * NOSCRIPT (only the accounts that failed are re-sent).
 *
 * Errors: connection loss, timeouts and Redis error replies are
 * JD_ERR_RETRY with code JD_E_REDIS (the caller backs off and repeats the
 * same call: every call here is idempotent); after a connection error the
 * context is freed and the next call reconnects. Configuration errors in
 * jd_state_new are JD_ERR_FATAL/JD_E_CONFIG. Threads: one jd_state_t per
 * thread; several threads or processes may work on the same Redis.
 */
#ifndef JD_STATE_H
#define JD_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "jd_decide.h"
#include "jd_err.h"
#include "jd_redis.h"
#include "jd_event.h"
#include "jd_signals.h"

typedef struct jd_state_conf {
    const char  *sc_host;          /* default "127.0.0.1" */
    int          sc_port;          /* default 6379 */
    const char  *sc_unix_path;     /* used instead of host:port when set */
    const char  *sc_prefix;        /* key prefix, default "jd" */
    const char  *sc_user;          /* ACL user for AUTH, or NULL/"" */
    const char  *sc_password;      /* AUTH password, or NULL/"" = no AUTH */
    const char  *sc_password_file; /* read at jd_state_new when set */
    int          sc_timeout_ms;    /* connect/command timeout, default 2000 */
    int          sc_retention_days;/* R: per-day keys kept for the days
                                      [D-R+1, D]; older usage events are
                                      too late for windows. Default 35;
                                      35..3660 */
    const char *const *sc_value_features; /* feature_used of these = value */
    size_t       sc_value_feature_cnt;
    const char *const *sc_usage_events;   /* event types that are usage;
                                             default feature_used, login */
    size_t       sc_usage_event_cnt;
    const char *const *sc_core_features;  /* feature breadth counts these
                                             (at most 1000) */
    size_t       sc_core_feature_cnt;
    int          sc_power_user_days;/* power users: active on >= this many
                                      days of 28; default 8; 1..28 */
    int64_t      sc_idle_expiry_ms;/* TTL of per-day keys after their last
                                      write (wall clock); 0 = never;
                                      default 35 days */
    jd_redis_mode_t sc_cluster;    /* Redis Cluster: auto (default:
                                      asked at connect time), on, off */
    const char  *sc_seeds;         /* more cluster seed nodes,
                                      "host:port,..." (NULL: none) */
    jd_signals_conf_t sc_signals;  /* thresholds of the derivation; its
                                      sgc_core_feature_cnt is set from
                                      sc_core_feature_cnt by jd_state_new */
} jd_state_conf_t;

void jd_state_conf_default(jd_state_conf_t *sc);

typedef struct jd_state jd_state_t;

/* Checks the configuration, connects and loads the scripts. `sc` is copied
 * (strings too; sc_signals.sgc_health is borrowed and must outlive st).
 * Returns NULL with err set: JD_ERR_FATAL/JD_E_CONFIG for a bad
 * configuration, JD_ERR_RETRY when Redis is unreachable. */
jd_state_t *jd_state_new(const jd_state_conf_t *sc, jd_err_t *err);

/* The derivation configuration st uses (for jd_signals_observe). */
const jd_signals_conf_t *jd_state_signals_conf(const jd_state_t *st);

/* Closes the connection and frees st; accepts NULL. */
void jd_state_destroy(jd_state_t *st);

/* One account's slice of a batch. Inputs: ab_account, ab_events (borrowed;
 * every event should carry ab_account, which is not re-checked).
 * Outputs (filled by jd_state_apply): ab_signals, ab_rule_states[rule_cnt]
 * (caller-owned storage of rule_cnt entries; a rule never stored reads as
 * the initial state) and the counts, which add up to ab_event_cnt:
 *   ab_applied      events not seen before;
 *   ab_duplicates   events whose event_id was already applied;
 *   ab_late_dropped usage events older than the retention horizon: not
 *                   added to the windows (their other effects, e.g.
 *                   first_value_at, last_usage_at, still apply);
 *   ab_rejected     events the state cannot hold: no event_id, or
 *                   occurred_at outside [0, 10^13) ms (the decoder's limits
 *                   normally make this 0).
 * Old non-usage events beyond the horizon cannot be told from duplicates
 * (their ids are no longer kept) and count as applied; applying them again
 * changes nothing. */
typedef struct jd_account_batch {
    const char              *ab_account;
    const jd_event_t *const *ab_events;
    size_t                   ab_event_cnt;
    jd_signals_t             ab_signals;
    size_t                   ab_applied;
    size_t                   ab_duplicates;
    size_t                   ab_late_dropped;
    size_t                   ab_rejected;
    jd_rule_state_t         *ab_rule_states;
    int64_t                  ab_rules_at;  /* event time the account's rules
                                              were last decided at (meta
                                              rules_at), or JD_SIGNALS_NO_TS */
    int64_t                  ab_timer_at;  /* its stored next deadline (meta
                                              timer_at, 0 for none), or
                                              JD_SIGNALS_NO_TS */
    int64_t                  ab_claim;     /* how many commits the account
                                              has had (meta claim, 0 for
                                              none): a decision made from
                                              this read commits with
                                              cm_claim = ab_claim */
} jd_account_batch_t;

/* Applies every account's events and reads back its signals (derived, not
 * yet observed: see jd_signals_observe) and the states of the rules named
 * in rule_ids[0..rule_cnt). One pipelined round trip.
 * Returns 0 or a negative jd_err class. On JD_ERR_RETRY some accounts may
 * have been applied: repeating the call is safe (they then count as
 * duplicates). A rule state that does not parse reads as the initial state.
 * An account may appear only once in abs. */
int jd_state_apply(jd_state_t *st, jd_account_batch_t *abs, size_t n,
                   const char *const *rule_ids, size_t rule_cnt,
                   jd_err_t *err);

/* A change to one account's rule states plus the triggers it decided,
 * written atomically (one script per account) if and only if the account
 * has had no other commit since the read the decision was made from (the
 * claim, state/commit.lua): the new states, the
 * journey change (healthy_adoption_at only if not stored yet; stage,
 * previous_stage, stage_changed_at, stage_seq) and an outbox entry (id -> encoded
 * event) per trigger or stage event. Outbox ids are trigger ids, or
 * JD_STATE_STAGE_PREFIX + the stage event id. */
#define JD_STATE_STAGE_PREFIX "s:"

typedef struct jd_state_commit {
    const char                   *cm_account;
    size_t                        cm_rule_cnt;
    const char *const            *cm_rule_ids;   /* changed rules */
    const jd_rule_state_t        *cm_states;     /* their new states */
    size_t                        cm_trigger_cnt;
    const char *const            *cm_trigger_ids;
    const unsigned char *const   *cm_payloads;   /* encoded triggers */
    const size_t                 *cm_payload_lens;
    const jd_signals_change_t    *cm_change;     /* NULL: none */
    int64_t                       cm_claim;      /* ab_claim of the read the
                                                    decision was made from,
                                                    or JD_STATE_CLAIM_ANY */
} jd_state_commit_t;

/* cm_claim of a writer that decides from no read (no check). */
#define JD_STATE_CLAIM_ANY INT64_C(-1)

/* Returns 0 or a negative jd_err class. Entries with nothing to write are
 * skipped. An entry whose account had another commit since its read
 * (claim lost: another instance decided it meanwhile) writes nothing and
 * sets conflicts[i] to 1 (else 0); the caller reads the account again and
 * decides anew. With conflicts NULL a lost claim is an error
 * (JD_ERR_FATAL/JD_E_INTERNAL), for callers that are the only writer.
 * Repeating a call after JD_ERR_RETRY is safe: an entry already written
 * by the first attempt is recognised (same claim, same content) and not
 * reported as a conflict. The account is added to the <prefix>:outbox
 * index both before and after its commit script (see jd_state.c for why
 * both). */
int jd_state_commit(jd_state_t *st, const jd_state_commit_t *cms, size_t n,
                    unsigned char *conflicts, jd_err_t *err);

/* Removes delivered triggers (accounts[i], trigger_ids[i]) from their
 * accounts' outboxes (pipelined; unknown ids are ignored) and takes
 * accounts whose outbox became empty out of the index, safely against a
 * concurrent commit. Returns 0 or a negative jd_err class. */
int jd_state_outbox_ack(jd_state_t *st, const char *const *accounts,
                        const char *const *trigger_ids, size_t n,
                        jd_err_t *err);

/* Calls fn for every pending outbox entry (start-up re-publication): reads
 * the index, then every indexed outbox (pipelined). The strings passed to
 * fn are valid only during the call; payload may contain NUL bytes.
 * Returns the number of entries visited, or a negative jd_err class. */
typedef void (*jd_state_outbox_fn)(const char *account, const char *tid,
                                   const unsigned char *payload, size_t len,
                                   void *opaque);
int jd_state_outbox_scan(jd_state_t *st, jd_state_outbox_fn fn, void *opaque,
                         jd_err_t *err);

/* Reads one account's signals without changing anything (the apply script
 * with zero events: the same code path, no writes). Returns 0, or
 * JD_ERR_SKIP/JD_E_MISSING_FIELD when the account has no state (sg is then
 * all null), or JD_ERR_RETRY. */
int jd_state_inspect(jd_state_t *st, const char *account, jd_signals_t *sg,
                     jd_err_t *err);

/* What jd_state_inspect_at tells besides the signals. */
typedef struct jd_state_inspect_info {
    int64_t si_state_as_of;     /* the account's own as-of instant T */
    int     si_windows_complete;/* every window day is inside the kept
                                   horizon (or after T): exact windows */
} jd_state_inspect_info_t;

/* Like jd_state_inspect, evaluated at the instant at_ms (ms since the
 * epoch; JD_SIGNALS_NO_TS: the account's own as-of T): windows cover the
 * whole UTC days up to day(at_ms); milestones after at_ms read null;
 * last-writer-wins and latest-of values are the latest known (the state
 * keeps no history of them). info may be NULL. */
int jd_state_inspect_at(jd_state_t *st, const char *account, int64_t at_ms,
                        jd_signals_t *sg, jd_state_inspect_info_t *info,
                        jd_err_t *err);

/* Calls fn once for every account with state (SSCAN of the account
 * index; the id passed to fn is valid only during the call). Returns the
 * number of accounts visited or a negative jd_err class. */
typedef void (*jd_state_account_fn)(const char *account, void *opaque);
int jd_state_accounts(jd_state_t *st, jd_state_account_fn fn, void *opaque,
                      jd_err_t *err);

/* Number of accounts with state (SCARD of the account index), or a
 * negative jd_err class. */
int64_t jd_state_account_count(jd_state_t *st, jd_err_t *err);

/* Writes the hash-tag form T of an account id (see the top of this file)
 * into buf, NUL-terminated and cut to cap. Returns the length it needed,
 * like snprintf. Pure. */
size_t jd_state_key_tag(const char *account, char *buf, size_t cap);

/* ---- timers (time-driven rules) ------------------------------------------ */

/* Like jd_state_apply with no events and no writes: every account's
 * signals evaluated at the instant at_ms (as jd_state_inspect_at) and the
 * states of the rules named. An account without state reads as all null
 * (as_of null). Returns 0 or a negative jd_err class. */
int jd_state_read_at(jd_state_t *st, jd_account_batch_t *abs, size_t n,
                     int64_t at_ms, const char *const *rule_ids,
                     size_t rule_cnt, jd_err_t *err);

/* Sets each account's next deadline in its timer index (<prefix>:INDEX,
 * indexes[i]: one per input partition, "timers:TOPIC:PARTITION", so an
 * instance evaluates only the accounts of the partitions it owns), and the
 * account's meta field timer_at; INT64_MAX removes it from the
 * index) and the instant its rules were decided at (meta rules_at, read
 * back as ab_rules_at). prev[i] is the deadline stored now (ab_timer_at:
 * 0 for none, JD_SIGNALS_NO_TS when unknown; prev may be NULL): an
 * unchanged deadline is not written again. rules_at[i] < 0 leaves rules_at
 * as it is. One pipelined round trip, none when nothing changes. Returns
 * 0 or a negative jd_err class. */
int jd_state_timers_set(jd_state_t *st, const char *const *accounts,
                        const char *const *indexes, const int64_t *deadlines,
                        const int64_t *prev, const int64_t *rules_at, size_t n,
                        jd_err_t *err);

/* Decision cut logs (<prefix>:cuts:TOPIC:PARTITION, a sorted set by
 * position): where the consumer cut a partition into decision segments
 * (consumer/jd_segment.h), each with the partition's clock before the
 * cut and the timer watermark used there; the last JD_STATE_CUTS_KEPT
 * are kept. A restarted or new owner reading from offset F replays the
 * cuts at or after F exactly, and resumes the clock of the last cut at or
 * before F, so it decides at the same places, whatever the timer index
 * says by then. <prefix>:cuts-done holds, per partition, the position of
 * the latest cut whose decisions and timers all completed: the state in
 * Redis already holds what came after it, so a replay closes those cuts
 * without deciding again (it would decide from the future). */
#define JD_STATE_CUTS_KEPT 2000

typedef struct jd_state_cut {
    int64_t cu_position;   /* the first offset after the cut */
    int64_t cu_clock;      /* latest event time before it (INT64_MIN: none) */
    int64_t cu_watermark;  /* timers ran up to (INT64_MIN: none) */
} jd_state_cut_t;

/* One partition to load: in pt_name ("TOPIC:PARTITION") and pt_from (the
 * offset reading starts at); out: pt_clock (INT64_MIN: none), pt_deadline
 * (the earliest of its timer index, "timers:TOPIC:PARTITION"; INT64_MAX:
 * none), pt_done (the latest completed cut's position, -1: none) and the
 * recorded cuts at or after pt_from, in order (pt_cuts: malloc'ed, the
 * caller frees). */
typedef struct jd_state_part {
    const char     *pt_name;
    int64_t         pt_from;
    int64_t         pt_clock;
    int64_t         pt_deadline;
    int64_t         pt_done;
    jd_state_cut_t *pt_cuts;
    size_t          pt_ncuts;
} jd_state_part_t;

/* One round trip for all n; 0 or a negative jd_err class. */
int jd_state_cuts_load(jd_state_t *st, jd_state_part_t *parts, size_t n, jd_err_t *err);

/* The latest cut recorded for each of parts[n] (cu_position -1: none). 0
 * or a negative jd_err class. */
int jd_state_cuts_last(jd_state_t *st, const char *const *parts, size_t n, jd_state_cut_t *last,
                       jd_err_t *err);

/* Marks the cut at positions[i] of parts[i] completed; 0 or a negative
 * jd_err class. */
int jd_state_cuts_done(jd_state_t *st, const char *const *parts, const int64_t *positions,
                       size_t n, jd_err_t *err);

/* Records cuts[i] in the log of parts[i]; 0 or a negative jd_err class. */
int jd_state_cuts_record(jd_state_t *st, const char *const *parts, const jd_state_cut_t *cuts,
                         size_t n, jd_err_t *err);

/* Calls fn for up to max accounts whose deadline is <= upto, earliest
 * first (the id is valid only during the call). Returns how many, or a
 * negative jd_err class. */
typedef void (*jd_state_timer_fn)(const char *account, int64_t deadline,
                                  void *opaque);
int jd_state_timers_due(jd_state_t *st, const char *index, int64_t upto, size_t max,
                        jd_state_timer_fn fn, void *opaque, jd_err_t *err);

/* Deletes every key under this state's prefix ("<prefix>:*", SCAN +
 * UNLINK): for scratch states only (journeyd replay). Returns the number
 * of keys deleted or a negative jd_err class. */
int jd_state_drop_all(jd_state_t *st, jd_err_t *err);

/* Pipelined SADD <prefix>:<names[i]> members[i] (global sets, one slot
 * each: the rule outcome sets). Returns 0 or a negative jd_err class. */
int jd_state_sadd(jd_state_t *st, const char *const *names, const char *const *members,
                  size_t n, jd_err_t *err);

/* Pipelined SCARD of <prefix>:<names[i]> into out[i]. Returns 0 or a
 * negative jd_err class. */
int jd_state_scard(jd_state_t *st, const char *const *names, size_t n, int64_t *out,
                   jd_err_t *err);

#endif
