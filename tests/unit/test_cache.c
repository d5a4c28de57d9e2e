/*
 * test_cache: the in-memory record cache, pure.
 *
 * Lookup, replacement, least-recently-used eviction within the byte
 * budget, dirty records kept, partitions dropped, and 100k random
 * operations checked against a plain reference model (arrays and a use
 * counter). Leaks show in the ASan build.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account_tev.h"
#include "jd_cache.h"

TestSuite(cache, .init = tev_setup);

#define TOPIC UINT64_C(0x1234)

static jd_account_t *rec(const char *id)
{
    jd_account_t *ac = jd_account_new(id);
    cr_assert(ac);
    return ac;
}

/* Bytes the cache counts for one record beyond jd_account_bytes. */
static size_t overhead(void)
{
    jd_cache_t *c = jd_cache_new(0);
    jd_account_t *ac = rec("x");
    size_t own = jd_account_bytes(ac);
    cr_assert_eq(jd_cache_put(c, ac, TOPIC, 0), 0);
    size_t n = jd_cache_bytes(c) - own;
    jd_cache_destroy(c);
    return n;
}

Test(cache, get_put_replace)
{
    jd_cache_t *c = jd_cache_new(1 << 20);
    jd_account_t *a = rec("a"), *b = rec("b"), *a2 = rec("a");
    cr_assert_null(jd_cache_get(c, "a"));
    cr_assert_eq(jd_cache_put(c, a, TOPIC, 0), 0);
    cr_assert_eq(jd_cache_put(c, b, TOPIC, 1), 0);
    cr_assert_eq(jd_cache_get(c, "a"), a);
    cr_assert_eq(jd_cache_get(c, "b"), b);
    cr_assert_eq(jd_cache_count(c), 2);
    jd_cache_set_dirty(c, a, 1);
    cr_assert_eq(jd_cache_put(c, a2, TOPIC, 0), 0); /* a destroyed */
    cr_assert_eq(jd_cache_get(c, "a"), a2);
    cr_assert_eq(jd_cache_count(c), 2);
    cr_assert_eq(jd_cache_bytes(c), jd_account_bytes(a2) + jd_account_bytes(b) +
                                        2 * overhead());
    jd_cache_set_dirty(c, a2, 0);
    cr_assert_eq(jd_cache_put(c, a2, TOPIC, 0), 0); /* the same again */
    cr_assert_eq(jd_cache_count(c), 2);
    /* replaced means clean: a tiny budget evicts both */
    jd_cache_t *small = jd_cache_new(0);
    jd_account_t *d = rec("d");
    jd_cache_put(small, d, TOPIC, 0);
    jd_cache_set_dirty(small, d, 1);
    jd_cache_put(small, rec("d"), TOPIC, 0);
    cr_assert_eq(jd_cache_evict(small), 1);
    cr_assert_eq(jd_cache_count(small), 0);
    cr_assert_eq(jd_cache_bytes(small), 0);
    jd_cache_destroy(small);
    jd_cache_destroy(c);
    jd_cache_destroy(NULL);
}

/* Bytes counted for a fresh record of an id of two characters. */
static size_t each2(void)
{
    jd_account_t *ac = rec("zz");
    size_t n = jd_account_bytes(ac) + overhead();
    jd_account_destroy(ac);
    return n;
}

/* A cache of records "a0".."a<n-1>", put in that order. */
static jd_cache_t *filled(size_t budget, int n, jd_account_t **acs)
{
    jd_cache_t *c = jd_cache_new(budget);
    for (int i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof id, "a%d", i);
        acs[i] = rec(id);
        cr_assert_eq(jd_cache_put(c, acs[i], TOPIC, i % 2), 0);
    }
    return c;
}

Test(cache, evicts_least_recently_used_first)
{
    jd_account_t *acs[5];
    jd_cache_t *c = filled(3 * each2(), 5, acs);
    cr_assert_eq(jd_cache_bytes(c), 5 * each2());
    cr_assert_eq(jd_cache_get(c, "a0"), acs[0]); /* a0 is now the newest */
    cr_assert_eq(jd_cache_evict(c), 2);          /* a1, a2 */
    cr_assert_null(jd_cache_get(c, "a1"));
    cr_assert_null(jd_cache_get(c, "a2"));
    cr_assert_eq(jd_cache_get(c, "a3"), acs[3]);
    cr_assert_eq(jd_cache_get(c, "a0"), acs[0]);
    cr_assert_eq(jd_cache_get(c, "a4"), acs[4]);
    cr_assert_eq(jd_cache_count(c), 3);
    cr_assert_eq(jd_cache_evictions(c), 2);
    cr_assert_eq(jd_cache_evict(c), 0); /* within budget */
    jd_cache_destroy(c);
}

Test(cache, reserved_bytes_count_against_the_budget)
{
    jd_account_t *acs[5];
    jd_cache_t *c = filled(5 * each2(), 5, acs);
    cr_assert_eq(jd_cache_evict(c), 0);          /* all five fit */
    jd_cache_set_reserved(c, 2 * each2());       /* e.g. the deadline indexes */
    cr_assert_eq(jd_cache_evict(c), 2);          /* a0, a1: the oldest */
    cr_assert_null(jd_cache_get(c, "a0"));
    cr_assert_eq(jd_cache_get(c, "a2"), acs[2]);
    jd_cache_set_reserved(c, 10 * each2());      /* more than the budget */
    cr_assert_eq(jd_cache_evict(c), 3);
    cr_assert_eq(jd_cache_count(c), 0);
    jd_cache_destroy(c);
}

Test(cache, dirty_records_are_never_evicted)
{
    jd_account_t *acs[6];
    jd_cache_t *c = filled(0, 6, acs);
    jd_cache_set_dirty(c, acs[0], 1);
    jd_cache_set_dirty(c, acs[3], 1);
    jd_account_t *other = rec("a3"); /* not the cached one: ignored */
    jd_cache_set_dirty(c, other, 0);
    jd_account_destroy(other);
    cr_assert_eq(jd_cache_evict(c), 4);
    cr_assert_eq(jd_cache_count(c), 2);
    cr_assert_eq(jd_cache_get(c, "a0"), acs[0]);
    cr_assert_eq(jd_cache_get(c, "a3"), acs[3]);
    cr_assert_eq(jd_cache_bytes(c), 2 * each2());
    jd_cache_set_dirty(c, acs[0], 0);
    cr_assert_eq(jd_cache_evict(c), 1);
    cr_assert_eq(jd_cache_get(c, "a3"), acs[3]);
    jd_cache_destroy(c);
}

Test(cache, clean_measures_again)
{
    jd_cache_t *c = jd_cache_new(1 << 20);
    jd_account_t *ac = rec("acme");
    jd_cache_put(c, ac, TOPIC, 0);
    size_t before = jd_cache_bytes(c);
    jd_cache_set_dirty(c, ac, 1);
    for (int i = 0; i < 200; i++) {
        tev_t t;
        random_event(&t, i);
        jd_account_apply(ac, &g_cf, &t.ev);
    }
    cr_assert_eq(jd_cache_bytes(c), before); /* dirty: not measured */
    jd_cache_set_dirty(c, ac, 0);
    cr_assert_eq(jd_cache_bytes(c), jd_account_bytes(ac) + overhead());
    cr_assert_gt(jd_cache_bytes(c), before);
    jd_cache_destroy(c);
}

Test(cache, drop_partition_drops_only_its_records)
{
    jd_account_t *acs[8];
    jd_cache_t *c = filled(1 << 20, 8, acs); /* partition i % 2 */
    jd_cache_set_dirty(c, acs[1], 1);
    jd_cache_drop_partition(c, TOPIC, 1);
    jd_cache_drop_partition(c, TOPIC + 1, 0); /* other topic: nothing */
    cr_assert_eq(jd_cache_count(c), 4);
    cr_assert_eq(jd_cache_bytes(c), 4 * each2());
    for (int i = 0; i < 8; i++) {
        char id[16];
        snprintf(id, sizeof id, "a%d", i);
        if (i % 2)
            cr_assert_null(jd_cache_get(c, id), "%s", id);
        else
            cr_assert_eq(jd_cache_get(c, id), acs[i], "%s", id);
    }
    jd_cache_drop_all(c);
    cr_assert_eq(jd_cache_count(c), 0);
    cr_assert_eq(jd_cache_bytes(c), 0);
    cr_assert_null(jd_cache_get(c, "a0"));
    jd_cache_destroy(c);
}

/* ---- against a reference model ----------------------------------------------- */

#define POOL 300

typedef struct model {
    jd_account_t *m_ac[POOL];       /* NULL: not cached */
    uint64_t      m_used[POOL];     /* last use: greater is more recent */
    int           m_dirty[POOL], m_part[POOL];
    size_t        m_bytes[POOL];
    uint64_t      m_clock;
    size_t        m_over;
} model_t;

static void model_id(int k, char *id, size_t n)
{
    /* ids of different lengths, so records differ in size */
    snprintf(id, n, "acct-%d-%.*s", k, k % 17, "xxxxxxxxxxxxxxxxx");
}

static void model_put(jd_cache_t *c, model_t *m, int k)
{
    char id[48];
    model_id(k, id, sizeof id);
    jd_account_t *ac = rec(id);
    int part = (int)(rnd() % 4);
    cr_assert_eq(jd_cache_put(c, ac, TOPIC, part), 0);
    m->m_ac[k] = ac;
    m->m_dirty[k] = 0;
    m->m_part[k] = part;
    m->m_bytes[k] = jd_account_bytes(ac) + m->m_over;
    m->m_used[k] = ++m->m_clock;
}

static void model_get(jd_cache_t *c, model_t *m, int k)
{
    char id[48];
    model_id(k, id, sizeof id);
    cr_assert_eq(jd_cache_get(c, id), m->m_ac[k], "%s", id);
    if (m->m_ac[k])
        m->m_used[k] = ++m->m_clock;
}

/* Applies a few events to a cached record and marks it dirty. */
static void model_touch(jd_cache_t *c, model_t *m, int k)
{
    if (!m->m_ac[k])
        return;
    for (int i = 0; i < 5; i++) {
        tev_t t;
        random_event(&t, (int)(rnd() % 100000));
        jd_account_apply(m->m_ac[k], &g_cf, &t.ev);
    }
    jd_cache_set_dirty(c, m->m_ac[k], 1);
    m->m_dirty[k] = 1;
}

static void model_clean(jd_cache_t *c, model_t *m, int k)
{
    if (!m->m_ac[k])
        return;
    jd_cache_set_dirty(c, m->m_ac[k], 0);
    m->m_dirty[k] = 0;
    m->m_bytes[k] = jd_account_bytes(m->m_ac[k]) + m->m_over;
}

static size_t model_total(const model_t *m, size_t *count)
{
    size_t b = 0;
    *count = 0;
    for (int k = 0; k < POOL; k++)
        if (m->m_ac[k]) {
            b += m->m_bytes[k];
            ++*count;
        }
    return b;
}

/* The oldest clean record, or -1. */
static int model_oldest_clean(const model_t *m)
{
    int best = -1;
    for (int k = 0; k < POOL; k++)
        if (m->m_ac[k] && !m->m_dirty[k] &&
            (best < 0 || m->m_used[k] < m->m_used[best]))
            best = k;
    return best;
}

static void model_evict(jd_cache_t *c, model_t *m, size_t budget)
{
    size_t n = 0, cnt, expect = 0;
    int k;
    while (model_total(m, &cnt) > budget && (k = model_oldest_clean(m)) >= 0) {
        m->m_ac[k] = NULL;
        expect++;
    }
    n = jd_cache_evict(c);
    cr_assert_eq(n, expect);
}

static void model_drop(jd_cache_t *c, model_t *m, int part)
{
    jd_cache_drop_partition(c, TOPIC, part);
    for (int k = 0; k < POOL; k++)
        if (m->m_ac[k] && m->m_part[k] == part)
            m->m_ac[k] = NULL;
}

static void model_check(const jd_cache_t *c, const model_t *m)
{
    size_t cnt, bytes = model_total(m, &cnt);
    cr_assert_eq(jd_cache_count(c), cnt);
    cr_assert_eq(jd_cache_bytes(c), bytes, "bytes %zu, model %zu",
                 jd_cache_bytes(c), bytes);
}

Test(cache, random_operations_match_a_model)
{
    static model_t m;
    size_t budget = 40 * each2();
    jd_cache_t *c = jd_cache_new(budget);
    memset(&m, 0, sizeof m);
    m.m_over = overhead();
    for (int op = 0; op < 100000; op++) {
        int k = (int)(rnd() % POOL), r = (int)(rnd() % 100);
        if (r < 35)
            model_put(c, &m, k);
        else if (r < 70)
            model_get(c, &m, k);
        else if (r < 78)
            model_touch(c, &m, k);
        else if (r < 88)
            model_clean(c, &m, k);
        else if (r < 98)
            model_evict(c, &m, budget);
        else if (r < 99 || op % 7)
            model_drop(c, &m, (int)(rnd() % 4));
        else
            jd_cache_drop_all(c), memset(m.m_ac, 0, sizeof m.m_ac);
        model_check(c, &m);
        if (op % 5000 == 0)
            for (int j = 0; j < POOL; j++)
                model_get(c, &m, j);
    }
    cr_assert_gt(jd_cache_evictions(c), 1000); /* the budget was reached */
    jd_cache_destroy(c);
}
