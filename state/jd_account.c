/*
 * jd_account: the per-account record (contract in jd_account.h; every
 * signal is defined in docs/signals.md): its life cycle, the rule states
 * and input positions it keeps, and the memory it holds. What an event
 * does to a record is in jd_account_apply.c; reading a record out as
 * signals is in jd_account_read.c; jd_account_int.h holds what they
 * share.
 *
 * Arrays are sorted and searched by bisection; they stay small (a day's
 * ids, an account's users) and inserts shift. Memory: each array grows by
 * doubling (jd__account_grow); jd_account_bytes reports what is held, as
 * the allocator counts it.
 *
 * Pure: no I/O, no clock; any thread, one account at a time. A
 * jd_account_t owns every array and string it points to.
 */
#include "jd_account.h"
#include "jd_account_int.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

void jd_account_conf_ready(jd_account_conf_t *cf)
{
    jd_signals_windows(cf->acf_power_user_days, cf->acf_specs);
}

uint64_t jd_account_hash(const char *s)
{
    return XXH3_64bits(s, strlen(s));
}

int jd_account_stage_parse(const char *name)
{
    for (int s = 0; name && s < JD_STAGE__COUNT; s++)
        if (strcmp(name, jd_signals_stage_name((jd_stage_t)s)) == 0)
            return s;
    return -1;
}

jd_account_t *jd_account_new(const char *id)
{
    jd_account_t *ac = calloc(1, sizeof *ac);
    if (!ac || !(ac->ac_id = strdup(id ? id : ""))) {
        free(ac);
        return NULL;
    }
    ac->ac_as_of = JD_SIGNALS_NO_TS;
    ac->ac_start_at = ac->ac_kickoff_at = ac->ac_go_live_at = JD_SIGNALS_NO_TS;
    ac->ac_first_value_at = ac->ac_value_realized_at = JD_SIGNALS_NO_TS;
    ac->ac_healthy_adoption_at = JD_SIGNALS_NO_TS;
    ac->ac_last_event_at = ac->ac_last_usage_at = JD_SIGNALS_NO_TS;
    ac->ac_sponsor_changed_at = JD_SIGNALS_NO_TS;
    ac->ac_stage = ac->ac_prev_stage = -1;
    ac->ac_stage_changed_at = JD_SIGNALS_NO_TS;
    ac->ac_rules_at = JD_SIGNALS_NO_TS;
    ac->ac_win_day = INT64_MIN;
    return ac;
}

void jd_account_destroy(jd_account_t *ac)
{
    if (!ac)
        return;
    for (int i = 0; i < JD_LWW__COUNT; i++) {
        free(ac->ac_lww[i].lw_eid);
        free(ac->ac_lww[i].lw_val);
    }
    for (uint32_t i = 0; i < ac->ac_ncases; i++) {
        free(ac->ac_cases[i].cs_id);
        free(ac->ac_cases[i].cs_eid);
    }
    for (uint32_t i = 0; i < ac->ac_ndays; i++)
        free(ac->ac_days[i].dy_ids);
    free(ac->ac_cases);
    free(ac->ac_users.as_v);
    free(ac->ac_feats.as_v);
    free(ac->ac_copen.as_v);
    free(ac->ac_days);
    free(ac->ac_nps);
    free(ac->ac_rules);
    free(ac->ac_pos);
    free(ac->ac_id);
    free(ac);
}

/* Makes room for one more element of an array (*v, n used, *cap). */
int jd__account_grow(void *vp, uint32_t n, uint32_t *cap, size_t each)
{
    void **v = vp;
    if (n < *cap)
        return 0;
    uint32_t nc = *cap ? *cap * 2 : 4;
    void *p = realloc(*v, (size_t)nc * each);
    if (!p)
        return -1;
    *v = p;
    *cap = nc;
    return 0;
}

/* ---- rules and positions ------------------------------------------------------------ */

static uint32_t ac_rule_find(const jd_account_t *ac, uint64_t h, int *found)
{
    uint32_t lo = 0, hi = ac->ac_nrules;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ac->ac_rules[mid].ar_hash < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < ac->ac_nrules && ac->ac_rules[lo].ar_hash == h;
    return lo;
}

jd_rule_state_t jd_account_rule(const jd_account_t *ac, uint64_t hash)
{
    int found;
    uint32_t i = ac_rule_find(ac, hash, &found);
    jd_rule_state_t zero = {0};
    return found ? ac->ac_rules[i].ar_state : zero;
}

void jd_account_rules_read(const jd_account_t *ac, const uint64_t *hash,
                           const uint32_t *order, size_t n,
                           jd_rule_state_t *out)
{
    const jd_rule_state_t zero = {0};
    uint32_t j = 0;
    for (size_t k = 0; k < n; k++) {
        uint32_t r = order[k];
        while (j < ac->ac_nrules && ac->ac_rules[j].ar_hash < hash[r])
            j++;
        out[r] = j < ac->ac_nrules && ac->ac_rules[j].ar_hash == hash[r]
                     ? ac->ac_rules[j].ar_state : zero;
    }
}

int jd_account_rule_set(jd_account_t *ac, uint64_t hash,
                        const jd_rule_state_t *rs)
{
    int found;
    uint32_t i = ac_rule_find(ac, hash, &found);
    if (!found) {
        if (jd__account_grow(&ac->ac_rules, ac->ac_nrules, &ac->ac_rule_cap,
                             sizeof *ac->ac_rules) != 0)
            return JD_ACCOUNT_NOMEM;
        memmove(&ac->ac_rules[i + 1], &ac->ac_rules[i],
                (ac->ac_nrules - i) * sizeof *ac->ac_rules);
        ac->ac_nrules++;
        ac->ac_rules[i].ar_hash = hash;
    }
    ac->ac_rules[i].ar_state = *rs;
    return 0;
}

int64_t jd_account_position(const jd_account_t *ac, uint64_t topic,
                            int32_t partition)
{
    for (uint32_t i = 0; i < ac->ac_npos; i++)
        if (ac->ac_pos[i].po_topic == topic &&
            ac->ac_pos[i].po_partition == partition)
            return ac->ac_pos[i].po_offset;
    return -1;
}

int jd_account_position_set(jd_account_t *ac, uint64_t topic,
                            int32_t partition, int64_t offset)
{
    for (uint32_t i = 0; i < ac->ac_npos; i++) {
        jd_apos_t *po = &ac->ac_pos[i];
        if (po->po_topic == topic && po->po_partition == partition) {
            if (offset > po->po_offset)
                po->po_offset = offset;
            return 0;
        }
    }
    if (jd__account_grow(&ac->ac_pos, ac->ac_npos, &ac->ac_pos_cap,
                         sizeof *ac->ac_pos) != 0)
        return JD_ACCOUNT_NOMEM;
    ac->ac_pos[ac->ac_npos++] = (jd_apos_t){topic, partition, offset};
    return 0;
}

void jd__account_lww_parse(jd_lww_t *lw)
{
    lw->lw_num_ok = lw->lw_val && jd_signals_parse_amount(lw->lw_val, &lw->lw_num) == 0;
    lw->lw_int_ok = lw->lw_val && jd_signals_parse_i64(lw->lw_val, &lw->lw_int) == 0;
}

/* What one heap block of n bytes takes from the allocator: glibc's
 * chunks add 8 bytes and round to 16, at least 32. Counting these (not the
 * bytes asked for) keeps state.cache_mb a bound on the memory: a record
 * is many small blocks, and the overhead is a third of a small one. */
static size_t ac_heap(size_t n)
{
    if (!n)
        return 0;
    n = (n + 8 + 15) & ~(size_t)15;
    return n < 32 ? 32 : n;
}

static size_t ac_str_bytes(const char *s)
{
    return s ? ac_heap(strlen(s) + 1) : 0;
}

size_t jd_account_bytes(const jd_account_t *ac)
{
    size_t n = ac_heap(sizeof *ac) + ac_str_bytes(ac->ac_id);
    for (int i = 0; i < JD_LWW__COUNT; i++)
        n += ac_str_bytes(ac->ac_lww[i].lw_eid) + ac_str_bytes(ac->ac_lww[i].lw_val);
    for (uint32_t i = 0; i < ac->ac_ncases; i++)
        n += ac_str_bytes(ac->ac_cases[i].cs_id) + ac_str_bytes(ac->ac_cases[i].cs_eid);
    n += ac_heap((size_t)ac->ac_case_cap * sizeof *ac->ac_cases);
    n += ac_heap((size_t)ac->ac_users.as_cap * sizeof(jd_act_t)) +
         ac_heap((size_t)ac->ac_feats.as_cap * sizeof(jd_act_t)) +
         ac_heap((size_t)ac->ac_copen.as_cap * sizeof(jd_act_t));
    n += ac_heap((size_t)ac->ac_day_cap * sizeof *ac->ac_days);
    for (uint32_t i = 0; i < ac->ac_ndays; i++)
        n += ac_heap((size_t)ac->ac_days[i].dy_cap * sizeof(uint64_t));
    n += ac_heap((size_t)ac->ac_nps_cap * sizeof *ac->ac_nps);
    n += ac_heap((size_t)ac->ac_rule_cap * sizeof *ac->ac_rules);
    n += ac_heap((size_t)ac->ac_pos_cap * sizeof *ac->ac_pos);
    return n;
}

/* ---- prefetch ------------------------------------------------------------ */

#define AC_LINE 64
#define AC_PREFETCH_MAX 8 /* lines of one array, at most */

static void ac_prefetch_range(const void *p, size_t bytes)
{
    const char *c = p;
    if (!c)
        return;
    size_t lines = (bytes + AC_LINE - 1) / AC_LINE;
    if (lines > AC_PREFETCH_MAX)
        lines = AC_PREFETCH_MAX;
    for (size_t i = 0; i < lines; i++)
        __builtin_prefetch(c + i * AC_LINE, 1, 3);
}

/* The middle of a sorted array: where every bisection starts. */
static void ac_prefetch_sorted(const void *v, uint32_t n, size_t size)
{
    if (!v || !n)
        return;
    if ((size_t)n * size <= AC_PREFETCH_MAX * AC_LINE) {
        ac_prefetch_range(v, (size_t)n * size);
        return;
    }
    const char *c = v;
    __builtin_prefetch(c + (size_t)(n / 2) * size, 0, 3);
    __builtin_prefetch(c + (size_t)(n / 4) * size, 0, 3);
    __builtin_prefetch(c + (size_t)(3 * (n / 4)) * size, 0, 3);
}

void jd_account_prefetch(const jd_account_t *ac, int part)
{
    if (!ac)
        return;
    if (part == 0) {
        ac_prefetch_range(ac, sizeof *ac);
        return;
    }
    ac_prefetch_range(ac->ac_pos, ac->ac_npos * sizeof *ac->ac_pos);
    ac_prefetch_range(ac->ac_rules, ac->ac_nrules * sizeof *ac->ac_rules);
    if (ac->ac_ndays) {
        const jd_day_t *dy = &ac->ac_days[ac->ac_ndays - 1];
        __builtin_prefetch(dy, 1, 3);
        ac_prefetch_sorted(dy->dy_ids, dy->dy_n, sizeof *dy->dy_ids);
    }
    ac_prefetch_sorted(ac->ac_users.as_v, ac->ac_users.as_n, sizeof *ac->ac_users.as_v);
    ac_prefetch_sorted(ac->ac_feats.as_v, ac->ac_feats.as_n, sizeof *ac->ac_feats.as_v);
    for (int k = 0; k < JD_LWW__COUNT; k++)
        if (ac->ac_lww[k].lw_val)
            __builtin_prefetch(ac->ac_lww[k].lw_val, 0, 3);
}
