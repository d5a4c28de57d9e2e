/*
 * jd_prog_map: decode programs for upstream records read through the
 * field mapping (contract in jd_prog.h, jd_prog_run_mapped).
 *
 * Compilation. The mapping's paths (its slots, jd_mapping.h) are merged
 * into a trie of steps; the writer schema is compiled by jd_prog.c's
 * compiler, which asks this file (jd_pm_hooks) for each op's destination,
 * a node: the trie position the op's value sits at, seen from that op
 * (a record field takes the child named like the field; a union's
 * branches share the union's node; a map's items get one item op per
 * child key of the trie plus one for any other key, chosen at run time by
 * the key; array items and everything off the paths get no node and are
 * only skipped). The node of the attributes container marks its entries:
 * the fields of a record or the values of a map, each an attribute
 * candidate. Nodes, key tables and the enum symbols live in the program;
 * it keeps no pointer into the mapping or the schema.
 *
 * Running. A value at a node is stored into the slots whose path ends
 * there, as a jd_map_val_t (strings as slices of the message), and the
 * container's entries into the decoder's scratch, de-duplicated as avro-c
 * does (first position, last value, a key ends at its first NUL). The
 * result must equal what jd_mapping_extract reads off avro-c's values,
 * including where avro-c reuses a value: a key repeated in a map is read
 * again into the same child without a reset, so a later occurrence
 * overwrites scalars and adds to nested maps, while a union that switches
 * branch starts a fresh value. So each trie node remembers the union op
 * and branch last taken there: a change clears the slots (and the
 * container) below it; the same branch again keeps them. Then
 * jd_mapping_fill converts and checks, the code both paths share.
 *
 * Pure; one thread per jd_prog_state_t.
 */
#include "jd_prog.h"

#include <stdlib.h>
#include <string.h>

#include "jd_prog_int.h"

/* ---- the path trie (compile time) ---------------------------------------- */

typedef struct jd_mtrie {
    const char *mt_name;  /* the step, borrowed from the mapping */
    int         mt_child; /* first child, or -1 */
    int         mt_next;  /* next sibling, or -1 */
    uint64_t    mt_term;  /* slots ending here */
    uint64_t    mt_sub;   /* slots ending here or below */
    int         mt_attrs; /* the attributes container ends here */
    int         mt_asub;  /* ... here or below */
} jd_mtrie_t;

typedef struct jd_mcomp {
    jd_mtrie_t mc_trie[JD_PROG_TRIE_MAX];
    size_t     mc_n;
    int        mc_too_big; /* past the node or pool bounds: leave to avro-c */
} jd_mcomp_t;

static int jd_mtrie_child(const jd_mcomp_t *mc, int t, const char *name)
{
    for (int c = t < 0 ? -1 : mc->mc_trie[t].mt_child; c >= 0; c = mc->mc_trie[c].mt_next) {
        if (strcmp(mc->mc_trie[c].mt_name, name) == 0)
            return c;
    }
    return -1;
}

static void jd_mtrie_add(jd_mcomp_t *mc, size_t slot, char *const *steps, size_t n)
{
    int t = 0;
    if (!n)
        return; /* not mapped */
    for (size_t i = 0; i < n; i++) {
        int c = jd_mtrie_child(mc, t, steps[i]);
        if (c < 0) {
            c = (int)mc->mc_n++;
            mc->mc_trie[c] = (jd_mtrie_t){steps[i], -1, mc->mc_trie[t].mt_child, 0, 0, 0, 0};
            mc->mc_trie[t].mt_child = c;
        }
        t = c;
    }
    if (slot == JD_MAP_SLOT_ATTRIBUTES)
        mc->mc_trie[t].mt_attrs = 1;
    else
        mc->mc_trie[t].mt_term |= (uint64_t)1 << slot;
}

/* mt_sub and mt_asub, children before parents (children have higher
 * indices than their parent). */
static void jd_mtrie_sums(jd_mcomp_t *mc)
{
    for (size_t i = 0; i < mc->mc_n; i++) {
        mc->mc_trie[i].mt_sub = mc->mc_trie[i].mt_term;
        mc->mc_trie[i].mt_asub = mc->mc_trie[i].mt_attrs;
    }
    for (size_t i = mc->mc_n; i-- > 1;) {
        for (size_t p = 0; p < i; p++) {
            for (int c = mc->mc_trie[p].mt_child; c >= 0; c = mc->mc_trie[c].mt_next) {
                if ((size_t)c == i) {
                    mc->mc_trie[p].mt_sub |= mc->mc_trie[i].mt_sub;
                    mc->mc_trie[p].mt_asub |= mc->mc_trie[i].mt_asub;
                }
            }
        }
    }
}

/* ---- program nodes, names ------------------------------------------------ */

/* Appends a NUL-terminated copy of s[0..n) to the pool: its offset, or -1. */
static int64_t jd_mpool_put(jd_prog_t *pg, const char *s, size_t n)
{
    char *pool = realloc(pg->pg_pool, pg->pg_pool_n + n + 1);
    if (!pool)
        return -1;
    pg->pg_pool = pool;
    memcpy(pool + pg->pg_pool_n, s, n);
    pool[pg->pg_pool_n + n] = '\0';
    int64_t off = (int64_t)pg->pg_pool_n;
    pg->pg_pool_n += n + 1;
    return off;
}

/* The node (trie position t or -1, container entry or not, its key): an
 * existing one or a new one; -1 for a position that means nothing; the
 * error codes of jd__prog_emit. */
static int jd_mnode_get(jd_comp_t *cp, int t, int entry, const char *key)
{
    jd_prog_t *pg = cp->cp_pg;
    jd_mcomp_t *mc = cp->cp_map;
    size_t klen = key ? strlen(key) : 0;

    if (t < 0 && !entry)
        return -1;
    for (size_t i = 0; i < pg->pg_nnodes; i++) {
        const jd_mnode_t *n = &pg->pg_nodes[i];
        if (n->mn_trie == t && n->mn_entry == entry && n->mn_klen == klen &&
            (!klen || memcmp(pg->pg_pool + n->mn_key, key, klen) == 0))
            return (int)i;
    }
    if (pg->pg_nnodes >= INT16_MAX) {
        mc->mc_too_big = 1;
        return -1;
    }
    jd_mnode_t *nodes = realloc(pg->pg_nodes, (pg->pg_nnodes + 1) * sizeof *nodes);
    if (!nodes)
        return JD_ERR_FATAL;
    pg->pg_nodes = nodes;
    jd_mnode_t *n = &nodes[pg->pg_nnodes];
    memset(n, 0, sizeof *n);
    n->mn_trie = t;
    n->mn_entry = (uint8_t)entry;
    if (t >= 0) {
        n->mn_term = mc->mc_trie[t].mt_term;
        n->mn_sub = mc->mc_trie[t].mt_sub;
        n->mn_attrs = (uint8_t)mc->mc_trie[t].mt_attrs;
        n->mn_asub = (uint8_t)mc->mc_trie[t].mt_asub;
    }
    if (klen) {
        int64_t off = jd_mpool_put(pg, key, klen);
        if (off < 0)
            return JD_ERR_FATAL;
        n->mn_key = (uint32_t)off;
        n->mn_klen = (uint32_t)klen;
    }
    return (int)pg->pg_nnodes++;
}

static int jd_pm_field(jd_comp_t *cp, int dst, const char *name)
{
    if (dst < 0)
        return -1;
    const jd_mnode_t *n = &cp->cp_pg->pg_nodes[dst];
    int entry = n->mn_attrs;
    int child = n->mn_trie < 0 ? -1 : jd_mtrie_child(cp->cp_map, n->mn_trie, name);
    return jd_mnode_get(cp, child, entry, entry ? name : NULL);
}

/* One item op of the map at `slot`, for trie child `t` (-1: other keys). */
static int64_t jd_mkeys_item(jd_comp_t *cp, avro_schema_t items, int t, int entry, int *rc)
{
    int nd = jd_mnode_get(cp, t, entry, NULL);
    int64_t item = nd < -1 ? -1 : jd__prog_reserve(cp, 1);
    if (item < 0) {
        *rc = nd < -1 ? nd : JD_ERR_FATAL;
        return -1;
    }
    *rc = jd__prog_emit(cp, item, items, nd, 0);
    return item;
}

static int jd_pm_keys(jd_comp_t *cp, int64_t slot, avro_schema_t items, int dst)
{
    jd_prog_t *pg = cp->cp_pg;
    jd_mcomp_t *mc = cp->cp_map;
    int t = pg->pg_nodes[dst].mn_trie, entry = pg->pg_nodes[dst].mn_attrs, rc;
    size_t k = 0, first = pg->pg_nkeys;

    int64_t item = jd_mkeys_item(cp, items, -1, entry, &rc);
    if (item < 0 || rc)
        return rc;
    pg->pg_ops[slot].op_first = (uint32_t)item;
    for (int c = t < 0 ? -1 : mc->mc_trie[t].mt_child; c >= 0; c = mc->mc_trie[c].mt_next)
        k++;
    if (k) {
        jd_mkey_t *keys = realloc(pg->pg_keys, (first + k) * sizeof *keys);
        if (!keys)
            return JD_ERR_FATAL;
        pg->pg_keys = keys;
        pg->pg_nkeys = first + k;
    }
    pg->pg_ops[slot].op_n = (int64_t)((uint64_t)first << 32 | k);
    size_t i = first;
    for (int c = t < 0 ? -1 : mc->mc_trie[t].mt_child; c >= 0; c = mc->mc_trie[c].mt_next) {
        const char *name = mc->mc_trie[c].mt_name;
        int64_t off = jd_mpool_put(pg, name, strlen(name));
        if (off < 0)
            return JD_ERR_FATAL;
        pg->pg_keys[i] = (jd_mkey_t){(uint32_t)off, (uint32_t)strlen(name), 0};
        if ((item = jd_mkeys_item(cp, items, c, entry, &rc)) < 0 || rc)
            return rc;
        pg->pg_keys[i++].mk_op = (uint32_t)item;
    }
    return 0;
}

static int jd_pm_enum(jd_comp_t *cp, int64_t slot, avro_schema_t s)
{
    jd_prog_t *pg = cp->cp_pg;
    size_t n = (size_t)avro_schema_enum_number_of_symbols(s);
    uint32_t *syms = realloc(pg->pg_syms, (pg->pg_nsyms + n + 1) * sizeof *syms);
    if (!syms)
        return JD_ERR_FATAL;
    pg->pg_syms = syms;
    pg->pg_ops[slot].op_first = (uint32_t)pg->pg_nsyms;
    for (size_t i = 0; i < n; i++) {
        const char *sym = avro_schema_enum_get(s, (int)i);
        int64_t off = jd_mpool_put(pg, sym ? sym : "", sym ? strlen(sym) : 0);
        if (off < 0)
            return JD_ERR_FATAL;
        pg->pg_syms[pg->pg_nsyms++] = (uint32_t)off;
    }
    return 0;
}

static const jd_prog_hooks_t jd_pm_hooks;

int jd_prog_compile_mapped(avro_schema_t writer, const jd_mapping_t *mp, jd_prog_t **out,
                           jd_err_t *err)
{
    jd_comp_t cp;
    jd_mcomp_t *mc = calloc(1, sizeof *mc);
    size_t nslots = jd_mapping_slot_count(mp);
    int rc;

    *out = NULL;
    memset(&cp, 0, sizeof cp);
    if (!mc || !(cp.cp_pg = calloc(1, sizeof *cp.cp_pg))) {
        free(mc);
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "cannot allocate a decode program");
    }
    mc->mc_trie[0] = (jd_mtrie_t){"", -1, -1, 0, 0, 0, 0};
    mc->mc_n = 1;
    for (size_t s = 0; s < nslots; s++) {
        char *const *steps;
        size_t n = jd_mapping_slot_path(mp, s, &steps);
        jd_mtrie_add(mc, s, steps, n);
    }
    jd_mtrie_sums(mc);
    cp.cp_dst = 1;
    cp.cp_map = mc;
    cp.cp_hooks = &jd_pm_hooks;
    cp.cp_pg->pg_hooks = &jd_pm_hooks;
    cp.cp_pg->pg_ntrie = mc->mc_n;
    cp.cp_pg->pg_nslots = nslots;
    int root = jd_mnode_get(&cp, 0, 0, NULL);
    if (root < 0) {
        jd_prog_destroy(cp.cp_pg);
        free(mc);
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "cannot allocate a decode program");
    }
    rc = jd__prog_build(&cp, writer, root, out, err);
    if (rc == 0 && mc->mc_too_big) {
        jd_prog_destroy(*out);
        *out = NULL;
        rc = 1;
    }
    free(mc);
    return rc;
}

/* ---- running ------------------------------------------------------------- */

static void jd_pm_put(jd_run_t *r, int nd, const jd_map_val_t *v)
{
    const jd_mnode_t *n = &r->r_pg->pg_nodes[nd];
    for (uint64_t m = n->mn_term; m; m &= m - 1)
        r->r_slot[__builtin_ctzll(m)] = *v;
    if (n->mn_entry)
        r->r_entry = *v;
}

static void jd_pm_other(jd_run_t *r, const jd_op_t *op)
{
    static const jd_map_val_t other = {JD_MV_OTHER, NULL, 0, 0, 0};
    jd_pm_put(r, op->op_dst, &other);
    if (r->r_pg->pg_nodes[op->op_dst].mn_attrs &&
        (op->op_kind == JD_OP_MAP || op->op_kind == JD_OP_RECORD))
        r->r_container = 1;
}

static void jd_pm_branch(jd_run_t *r, const jd_op_t *op, int64_t branch)
{
    const jd_mnode_t *n = &r->r_pg->pg_nodes[op->op_dst];
    if (n->mn_trie < 0 || !(n->mn_sub || n->mn_asub))
        return;
    uint64_t key = ((uint64_t)(op - r->r_ops) + 1) << 32 | (uint64_t)branch;
    if (r->r_umem[n->mn_trie] == key)
        return; /* the same branch again: avro-c reuses its value */
    r->r_umem[n->mn_trie] = key;
    for (uint64_t m = n->mn_sub; m; m &= m - 1)
        memset(&r->r_slot[__builtin_ctzll(m)], 0, sizeof r->r_slot[0]);
    if (n->mn_asub) {
        r->r_mkv_n = 0;
        r->r_container = 0;
        r->r_overflow = 0;
    }
}

/* One container entry: a new key is appended, a repeated key replaces
 * the value in place. */
static void jd_run_mkv(jd_run_t *r, const char *k, size_t kn)
{
    for (size_t i = 0; i < r->r_mkv_n; i++) {
        jd_map_kv_t *kv = &r->r_mkv[i];
        if (kv->mk_klen == kn && memcmp(kv->mk_key, k, kn) == 0) {
            kv->mk_val = r->r_entry;
            return;
        }
    }
    if (r->r_mkv_n < r->r_mkv_cap)
        r->r_mkv[r->r_mkv_n++] = (jd_map_kv_t){k, kn, r->r_entry};
    else
        r->r_overflow = 1;
}

static int jd_pm_record(jd_run_t *r, const jd_op_t *op, int depth)
{
    int attrs = r->r_pg->pg_nodes[op->op_dst].mn_attrs, rc;
    for (int64_t k = 0; k < op->op_n; k++) {
        uint32_t f = op->op_first + (uint32_t)k;
        memset(&r->r_entry, 0, sizeof r->r_entry);
        if ((rc = jd__prog_op(r, f, depth)))
            return rc;
        if (attrs) {
            const jd_mnode_t *fn = &r->r_pg->pg_nodes[r->r_ops[f].op_dst];
            jd_run_mkv(r, r->r_pg->pg_pool + fn->mn_key, fn->mn_klen);
        }
    }
    return 0;
}

static int jd_pm_entry(jd_run_t *r, const jd_op_t *op, const unsigned char *key, size_t klen,
                       int depth)
{
    const jd_prog_t *pg = r->r_pg;
    size_t first = (size_t)((uint64_t)op->op_n >> 32), n = (size_t)(op->op_n & 0xffffffff);
    uint32_t item = op->op_first;
    int rc;

    klen = jd_run_keylen(key, klen);
    for (size_t i = first; i < first + n; i++) {
        if (pg->pg_keys[i].mk_len == klen &&
            memcmp(pg->pg_pool + pg->pg_keys[i].mk_off, key, klen) == 0) {
            item = pg->pg_keys[i].mk_op;
            break;
        }
    }
    if (!pg->pg_nodes[op->op_dst].mn_attrs)
        return jd__prog_op(r, item, depth);
    memset(&r->r_entry, 0, sizeof r->r_entry);
    if ((rc = jd__prog_op(r, item, depth)))
        return rc;
    jd_run_mkv(r, (const char *)key, klen);
    return 0;
}

static int jd_run_mentry(void *ctx, size_t i, jd_map_kv_t *kv)
{
    const jd_run_t *r = ctx;
    *kv = r->r_mkv[i];
    return 0;
}

int jd_prog_run_mapped(const jd_prog_t *pg, const jd_mapping_t *mp, const jd_limits_t *lim,
                       jd_prog_state_t *ps, const unsigned char *p, size_t len,
                       jd_arena_t *ar, jd_event_t *ev, jd_err_t *err)
{
    jd_run_t r;
    int rc;

    memset(ev, 0, sizeof *ev);
    if ((rc = jd__prog_walk(&r, pg, ps, p, len, err)))
        return rc;
    if (r.r_overflow)
        return 1;
    jd_map_src_t src = {r.r_slot, r.r_container ? r.r_mkv_n : 0, jd_run_mentry, &r};
    return jd_mapping_fill(mp, &src, lim, ar, ev, err);
}

static const jd_prog_hooks_t jd_pm_hooks = {
    jd_pm_field, jd_pm_keys, jd_pm_enum, jd_pm_put,
    jd_pm_other, jd_pm_branch, jd_pm_record, jd_pm_entry,
};
