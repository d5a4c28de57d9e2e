/*
 * jd_prog: compile a writer schema into a flat decode program, and run it
 * over message bytes (contract in jd_prog.h).
 *
 * Compilation. avro-c has already parsed the writer schema and accepted
 * its resolution against product_event.avsc (jd_decode.c builds the
 * resolved reader first and refuses the schema otherwise), so compiling
 * only has to mirror that resolution: each top-level writer field whose
 * name is a reader field gets that field as its destination, every other
 * field is skipped. Ops are laid out breadth-first: a record reserves a
 * contiguous range for its fields, then fills each slot, whose own
 * children are appended after; so every compound op names its children
 * by (first index, count) and the program is one array, freed at once.
 * A recursive writer schema reaches itself through an AVRO_LINK; the
 * record it names is memoised by schema pointer while its range is being
 * filled, so the link becomes an op pointing back at it. Destination
 * fields accept only the writer shapes listed at jd_prog_dst_ok; any other
 * shape (which avro-c may still resolve) makes the compiler answer 1 and
 * the decoder keeps avro-c's generic reader for that schema.
 *
 * Mapped upstream records use the same compiler and walk with the path
 * trie of jd_prog_map.c as their destinations: field destinations, map
 * keys and what a value at a node means come through its hooks
 * (jd_prog_hooks_t, cp_hooks and pg_hooks), so this file knows nothing of
 * mappings; records are memoised with their destination (a link from
 * another position compiles afresh).
 *
 * Running. One walk serves both paths: the fast path runs the program
 * with destinations; the generic path (avro-c's reader, kept for shapes the
 * compiler leaves alone, triggers and stage events) first
 * runs a scan program of the same schema with none, because avro-c 1.11.1
 * leaks the buffer of a string whose claimed length runs past the input,
 * so it must never meet a short read. The walk rejects, with the byte
 * offset: a varint longer than 10 bytes, an int outside int32; a string
 * length negative or past the input; a union or enum index outside the
 * schema; a block count past the bytes left, a negative count's byte size
 * that does not match its items (avro-c skips writer-only fields by that
 * size and reads others item by item: both must land on the same byte);
 * nesting deeper than JD_PROG_DEPTH_MAX; more steps than the work limit
 * (every datum, map key and block header is one step, at most 4096 + 8
 * per message byte: a block of zero-byte items - nulls, empty records -
 * may claim as many items as bytes are left, in each of as many blocks as
 * there are bytes, so a 1 MiB message could otherwise cost 10^12 steps:
 * JD_E_WORK_LIMIT, dead letter work_limit); bytes after the record. So
 * both paths accept and reject the same bytes with the same reason.
 * Values meant for the event are kept as slices or numbers; attribute
 * keys are de-duplicated as avro-c's map does (the first position, the
 * last value; a key ends at its first NUL byte, as avro-c's C-string keys
 * do). Only then are the field checks applied and the strings copied
 * (jd_prog_event.c for product events, jd_mapping_fill for mapped
 * records). Pure; one thread per jd_prog_state_t.
 */
#include "jd_prog.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "jd_codec_int.h"
#include "jd_prog_int.h"

/* ---- compilation --------------------------------------------------------- */

/* Reserves n consecutive ops; returns the first index or -1 (no memory,
 * or a program past 2^31 ops). */
int64_t jd__prog_reserve(jd_comp_t *cp, size_t n)
{
    jd_prog_t *pg = cp->cp_pg;
    if (pg->pg_n + n > pg->pg_cap) {
        size_t cap = pg->pg_cap ? pg->pg_cap : 32;
        while (cap < pg->pg_n + n)
            cap *= 2;
        if (cap > ((size_t)1 << 31))
            return -1;
        jd_op_t *ops = realloc(pg->pg_ops, cap * sizeof *ops);
        if (!ops)
            return -1;
        pg->pg_ops = ops;
        pg->pg_cap = cap;
    }
    int64_t first = (int64_t)pg->pg_n;
    memset(pg->pg_ops + pg->pg_n, 0, n * sizeof *pg->pg_ops);
    pg->pg_n += n;
    return first;
}

/* True when writer schema `s` may feed reader field `dst` on the fast
 * path: the plain shapes avro-c resolves for our fields. A writer union
 * is judged branch by branch (jd_comp_branch_dst): a branch avro-c cannot
 * resolve for the field is dead, and a message that takes it fails as it
 * fails in avro-c's resolver. JD_PROG_ATTR_VAL is a value of the
 * attributes map. */
static int jd_prog_dst_ok(avro_schema_t s, int dst, int in_union)
{
    avro_type_t t = avro_typeof(s);
    if (t == AVRO_UNION)
        return !in_union;
    switch (dst) {
    case JD_PF_EVENT_ID:
    case JD_PF_ACCOUNT_ID:
    case JD_PF_TYPE:
    case JD_PROG_ATTR_VAL:
        return t == AVRO_STRING;
    case JD_PF_USER_ID:
    case JD_PF_FEATURE:
        return t == AVRO_STRING || t == AVRO_NULL;
    case JD_PF_OCCURRED_AT:
        return t == AVRO_INT32 || t == AVRO_INT64;
    case JD_PF_VALUE:
        return t == AVRO_NULL || t == AVRO_INT32 || t == AVRO_INT64 || t == AVRO_FLOAT ||
               t == AVRO_DOUBLE;
    case JD_PF_ATTRIBUTES:
        if (t != AVRO_MAP)
            return 0;
        t = avro_typeof(avro_schema_map_values(s));
        return t == AVRO_STRING || t == AVRO_UNION;
    }
    return 0;
}

/* The destination of union branch `s` of a value going to `dst`. */
static int jd_comp_branch_dst(const jd_comp_t *cp, avro_schema_t s, int dst)
{
    if (cp->cp_map || dst < 0)
        return dst;
    return jd_prog_dst_ok(s, dst, 1) ? dst : JD_PROG_DEAD;
}

/* The reader field named `name`, or -1. */
static int jd_prog_field(const char *name)
{
    for (int f = 0; f < JD_PF__COUNT; f++) {
        if (strcmp(jd__codec_pf_spec[f].fs_name, name) == 0)
            return f;
    }
    return -1;
}

/* The destination of field `name` of a record compiled with `dst`:
 * product programs route the top-level fields (dst JD_PROG_TOP) to the
 * reader fields of the same name; mapped programs follow the path trie. */
static int jd_comp_field_dst(jd_comp_t *cp, int dst, const char *name)
{
    if (cp->cp_map)
        return cp->cp_hooks->ph_field(cp, dst, name);
    return dst == JD_PROG_TOP && cp->cp_dst ? jd_prog_field(name) : -1;
}

/* Fills n children at a fresh range; child i is a union branch (with the
 * union's destination) or a record field. */
static int jd_comp_children(jd_comp_t *cp, int64_t slot, avro_schema_t s, size_t n,
                            int is_union, int dst)
{
    int64_t first = jd__prog_reserve(cp, n);
    if (first < 0)
        return JD_ERR_FATAL;
    cp->cp_pg->pg_ops[slot].op_first = (uint32_t)first;
    cp->cp_pg->pg_ops[slot].op_n = (int64_t)n;
    for (size_t i = 0; i < n; i++) {
        avro_schema_t c = is_union ? avro_schema_union_branch(s, (int)i)
                                   : avro_schema_record_field_get_by_index(s, (int)i);
        int cd = is_union ? jd_comp_branch_dst(cp, c, dst)
                          : jd_comp_field_dst(cp, dst,
                                              avro_schema_record_field_name(s, (int)i));
        if (!is_union && cd < -1)
            return cd; /* no memory */
        int rc = jd__prog_emit(cp, first + (int64_t)i, c, cd, is_union);
        if (rc)
            return rc;
    }
    return 0;
}

/* A record, memoised with its destination: a link to it from the same
 * kind of position reuses its ops (that is what ends recursion). */
static int jd_comp_record(jd_comp_t *cp, int64_t slot, avro_schema_t s, int dst)
{
    if (cp->cp_memo_n == JD_PROG_MEMO_MAX)
        return 2; /* a writer schema with that many records: refused */
    cp->cp_memo_s[cp->cp_memo_n] = s;
    cp->cp_memo_dst[cp->cp_memo_n] = dst;
    cp->cp_memo_op[cp->cp_memo_n++] = (uint32_t)slot;
    return jd_comp_children(cp, slot, s, avro_schema_record_size(s), 0, dst);
}

static int jd_comp_link(jd_comp_t *cp, int64_t slot, avro_schema_t s, int dst)
{
    avro_schema_t t = avro_schema_link_target(s);
    for (size_t i = 0; i < cp->cp_memo_n; i++) {
        if (cp->cp_memo_s[i] == t && cp->cp_memo_dst[i] == dst) {
            cp->cp_pg->pg_ops[slot].op_first = cp->cp_memo_op[i];
            return 0;
        }
    }
    int64_t first = jd__prog_reserve(cp, 1);
    if (first < 0)
        return JD_ERR_FATAL;
    cp->cp_pg->pg_ops[slot].op_first = (uint32_t)first;
    return jd__prog_emit(cp, first, t, dst, 0);
}

/* 1 when avro-c's generic value of `s` has no size (the empty record, a
 * record of such records): avro-c cannot grow an array of them, so a
 * mapped record (read whole by avro-c) fails on a non-empty one. */
static int jd_comp_zero_size(avro_schema_t s, int depth)
{
    if (is_avro_link(s))
        s = avro_schema_link_target(s);
    if (!is_avro_record(s) || depth > JD_PROG_DEPTH_MAX)
        return 0;
    for (size_t i = 0; i < avro_schema_record_size(s); i++) {
        if (!jd_comp_zero_size(avro_schema_record_field_get_by_index(s, (int)i), depth + 1))
            return 0;
    }
    return 1;
}

static int jd_comp_items(jd_comp_t *cp, int64_t slot, avro_schema_t s, int dst)
{
    avro_schema_t items = is_avro_map(s) ? avro_schema_map_values(s) : avro_schema_array_items(s);
    int64_t item;

    cp->cp_pg->pg_ops[slot].op_kind = is_avro_map(s) ? JD_OP_MAP : JD_OP_ARRAY;
    if (cp->cp_map && dst >= 0 && is_avro_map(s))
        return cp->cp_hooks->ph_keys(cp, slot, items, dst);
    if (cp->cp_map && !is_avro_map(s))
        cp->cp_pg->pg_ops[slot].op_n = jd_comp_zero_size(items, 0);
    if ((item = jd__prog_reserve(cp, 1)) < 0)
        return JD_ERR_FATAL;
    cp->cp_pg->pg_ops[slot].op_first = (uint32_t)item;
    /* union values of the attributes map are judged branch by branch */
    int idst = dst == JD_PF_ATTRIBUTES && !cp->cp_map && is_avro_union(items) ? JD_PROG_ATTR_VAL
                                                                              : -1;
    return jd__prog_emit(cp, item, items, idst, 0);
}

/* Compiles datum schema `s` into op `slot`, its value going to `dst` (-1:
 * skipped). One case per Avro type, hence the length. */
int jd__prog_emit(jd_comp_t *cp, int64_t slot, avro_schema_t s, int dst, int in_union)
{
    jd_op_t *op = &cp->cp_pg->pg_ops[slot];

    if (dst >= 0 && !cp->cp_map && !jd_prog_dst_ok(s, dst, in_union))
        return 1;
    op->op_dst = (int16_t)dst;
    switch (avro_typeof(s)) {
    case AVRO_NULL: op->op_kind = JD_OP_NULL; return 0;
    case AVRO_BOOLEAN: op->op_kind = JD_OP_BOOL; return 0;
    case AVRO_INT32: op->op_kind = JD_OP_INT; return 0;
    case AVRO_INT64: op->op_kind = JD_OP_LONG; return 0;
    case AVRO_FLOAT: op->op_kind = JD_OP_FLOAT; return 0;
    case AVRO_DOUBLE: op->op_kind = JD_OP_DOUBLE; return 0;
    case AVRO_STRING: op->op_kind = JD_OP_STRING; return 0;
    case AVRO_BYTES: op->op_kind = JD_OP_BYTES; return 0;
    case AVRO_FIXED:
        op->op_kind = JD_OP_FIXED;
        op->op_n = avro_schema_fixed_size(s);
        return 0;
    case AVRO_ENUM:
        op->op_kind = JD_OP_ENUM;
        op->op_n = avro_schema_enum_number_of_symbols(s);
        return cp->cp_map && dst >= 0 ? cp->cp_hooks->ph_enum(cp, slot, s) : 0;
    case AVRO_UNION:
        op->op_kind = JD_OP_UNION;
        return jd_comp_children(cp, slot, s, avro_schema_union_size(s), 1, dst);
    case AVRO_RECORD:
        op->op_kind = JD_OP_RECORD;
        return jd_comp_record(cp, slot, s, dst);
    case AVRO_MAP:
    case AVRO_ARRAY:
        return jd_comp_items(cp, slot, s, dst);
    case AVRO_LINK:
        op->op_kind = JD_OP_LINK;
        return jd_comp_link(cp, slot, s, dst);
    }
    return 1;
}

/* Compiles `writer` (a record) with its root at `dst`: JD_PROG_TOP for a
 * product program, -1 for a scan, the trie root for a mapped program. The
 * caller has allocated cp->cp_pg; on failure it is freed. */
int jd__prog_build(jd_comp_t *cp, avro_schema_t writer, int dst, jd_prog_t **out,
                   jd_err_t *err)
{
    int64_t root = jd__prog_reserve(cp, 1);
    int rc = JD_ERR_FATAL;

    *out = NULL;
    if (root >= 0) {
        cp->cp_pg->pg_ops[root].op_kind = JD_OP_RECORD;
        rc = jd_comp_record(cp, root, writer, dst);
        cp->cp_pg->pg_ops[root].op_dst = (int16_t)(dst < 0 ? -1 : dst);
    }
    if (rc) {
        jd_prog_destroy(cp->cp_pg);
        if (rc < 0)
            return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "cannot allocate a decode program");
        if (rc == 2)
            return jd_err_set(err, JD_ERR_FATAL, JD_E_SCHEMA,
                              "writer schema has more than %d records", JD_PROG_MEMO_MAX);
        return 1;
    }
    *out = cp->cp_pg;
    return 0;
}

static int jd_prog_build(avro_schema_t writer, int dst, jd_prog_t **out, jd_err_t *err)
{
    jd_comp_t cp;

    *out = NULL;
    memset(&cp, 0, sizeof cp);
    cp.cp_dst = dst;
    if (!(cp.cp_pg = calloc(1, sizeof *cp.cp_pg)))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "cannot allocate a decode program");
    return jd__prog_build(&cp, writer, dst ? JD_PROG_TOP : -1, out, err);
}

int jd_prog_compile(avro_schema_t writer, jd_prog_t **out, jd_err_t *err)
{
    return jd_prog_build(writer, 1, out, err);
}

int jd_prog_compile_scan(avro_schema_t writer, jd_prog_t **out, jd_err_t *err)
{
    int rc = jd_prog_build(writer, 0, out, err);
    return rc > 0 ? jd_err_set(err, JD_ERR_FATAL, JD_E_SCHEMA, "cannot compile a scan") : rc;
}

void jd_prog_destroy(jd_prog_t *pg)
{
    if (pg) {
        free(pg->pg_ops);
        free(pg->pg_nodes);
        free(pg->pg_keys);
        free(pg->pg_syms);
        free(pg->pg_pool);
        free(pg);
    }
}

int jd_prog_state_init(jd_prog_state_t *ps, const jd_limits_t *lim, jd_err_t *err)
{
    ps->ps_kv_cap = lim->lim_max_attributes + 1;
    ps->ps_mkv_cap = 4 * ps->ps_kv_cap;
    if (!(ps->ps_kv = calloc(ps->ps_kv_cap, sizeof *ps->ps_kv)) ||
        !(ps->ps_mkv = calloc(ps->ps_mkv_cap, sizeof *ps->ps_mkv))) {
        jd_prog_state_fini(ps);
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "cannot allocate decode scratch");
    }
    return 0;
}

void jd_prog_state_fini(jd_prog_state_t *ps)
{
    if (ps) {
        free(ps->ps_kv);
        free(ps->ps_mkv);
        memset(ps, 0, sizeof *ps);
    }
}

/* ---- running ------------------------------------------------------------- */

int jd__prog_fail(jd_run_t *r, const char *what, int64_t v)
{
    return jd_err_set(r->r_err, JD_ERR_SKIP, JD_E_MALFORMED,
                      "Avro binary does not decode: %s (%" PRId64 ") at byte offset %zu of %zu",
                      what, v, r->r_pos, r->r_len);
}

int jd__prog_work(jd_run_t *r)
{
    if (++r->r_work <= r->r_work_max)
        return 0;
    return jd_err_set(r->r_err, JD_ERR_SKIP, JD_E_WORK_LIMIT,
                      "Avro binary needs more than %" PRIu64 " decoding steps "
                      "(the work limit of a %zu-byte message) at byte offset %zu",
                      r->r_work_max, r->r_len, r->r_pos);
}

static inline uint64_t jd_run_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Stores a scalar into its destination: a reader field of a product
 * program (with promotion), or the slots of a mapped program's node. */
static inline void jd_run_put(jd_run_t *r, int dst, int kind, int64_t l, double d,
                              const unsigned char *s, size_t n)
{
    if (r->r_pg) {
        jd_map_val_t v = {kind, (const char *)s, n, l, d};
        r->r_pg->pg_hooks->ph_put(r, dst, &v);
        return;
    }
    if (kind == JD_MV_STRING) {
        r->r_str[dst] = s;
        r->r_strn[dst] = n;
    } else if (dst == JD_PF_OCCURRED_AT) {
        r->r_ts = l;
    } else if (dst == JD_PF_VALUE) {
        r->r_val = kind == JD_MV_INT || kind == JD_MV_LONG ? (double)l : d;
    } else {
        return;
    }
    r->r_set |= 1u << dst;
}

/* One attribute: a new key is appended, a repeated key replaces the value
 * in place (avro-c's map semantics). Past ps_kv_cap distinct keys the map
 * is over the limit whatever follows, so later keys are not kept. */
static void jd_run_kv(jd_run_t *r, const unsigned char *k, size_t kn,
                      const unsigned char *v, size_t vn)
{
    kn = jd_run_keylen(k, kn);
    r->r_kv_seen++;
    for (size_t i = 0; i < r->r_kv_n; i++) {
        jd_prog_kv_t *kv = &r->r_kv[i];
        if (kv->kv_klen == kn && memcmp(kv->kv_key, k, kn) == 0) {
            kv->kv_val = v;
            kv->kv_vlen = vn;
            return;
        }
    }
    if (r->r_kv_n < r->r_kv_cap)
        r->r_kv[r->r_kv_n++] = (jd_prog_kv_t){k, v, kn, vn};
}

/* One item of a map or array block. */
static int jd_run_item(jd_run_t *r, const jd_op_t *op, int depth)
{
    const unsigned char *ks = NULL, *vs = NULL;
    size_t kn = 0, vn = 0;
    int rc;

    if (op->op_kind == JD_OP_MAP &&
        ((rc = jd__prog_work(r)) || (rc = jd_run_string(r, &ks, &kn))))
        return rc;
    if (op->op_dst < 0 || (r->r_pg && op->op_kind == JD_OP_ARRAY))
        return jd__prog_op(r, op->op_first, depth);
    if (r->r_pg)
        return r->r_pg->pg_hooks->ph_entry(r, op, ks, kn, depth);
    /* the product event's attributes: a map of strings, or of unions */
    if (r->r_ops[op->op_first].op_kind != JD_OP_STRING) {
        r->r_str[JD_PROG_ATTR_VAL] = NULL;
        if ((rc = jd__prog_op(r, op->op_first, depth)))
            return rc;
        if ((vs = r->r_str[JD_PROG_ATTR_VAL]))
            jd_run_kv(r, ks, kn, vs, r->r_strn[JD_PROG_ATTR_VAL]);
        return 0;
    }
    if ((rc = jd__prog_work(r)) || (rc = jd_run_string(r, &vs, &vn)))
        return rc;
    jd_run_kv(r, ks, kn, vs, vn);
    return 0;
}

/* Map or array blocks: count, [byte size when count < 0], items, ..., 0. */
static int jd_run_blocks(jd_run_t *r, const jd_op_t *op, int depth)
{
    int64_t count, size;
    int rc;

    if (op->op_dst == JD_PF_ATTRIBUTES && !r->r_pg)
        r->r_set |= 1u << JD_PF_ATTRIBUTES;
    for (;;) {
        if ((rc = jd_run_long(r, &count)) || (rc = jd__prog_work(r)))
            return rc;
        if (count == 0)
            return 0;
        if (r->r_pg && op->op_kind == JD_OP_ARRAY && op->op_n)
            r->r_unreadable = 1;
        size = -1;
        if (count < 0) {
            if (count == INT64_MIN)
                return jd__prog_fail(r, "block count out of range", count);
            count = -count;
            if ((rc = jd_run_index(r, 0, (int64_t)jd_run_left(r) + 1,
                                   "block byte size exceeds input", &size)))
                return rc;
        }
        if ((uint64_t)count > jd_run_left(r))
            return jd__prog_fail(r, "block count exceeds remaining input", count);
        size_t start = r->r_pos;
        for (int64_t k = 0; k < count; k++) {
            if ((rc = jd_run_item(r, op, depth)))
                return rc;
        }
        if (size >= 0 && (uint64_t)size != r->r_pos - start)
            return jd__prog_fail(r, "block byte size does not match its items", size);
    }
}

static int jd_run_real(jd_run_t *r, const jd_op_t *op)
{
    size_t n = op->op_kind == JD_OP_FLOAT ? 4 : 8;
    const unsigned char *s = r->r_p + r->r_pos;
    int rc;

    if ((rc = jd_run_skip(r, (int64_t)n, n == 4 ? "input ends inside a float"
                                                : "input ends inside a double")))
        return rc;
    if (op->op_dst < 0 || (!r->r_pg && op->op_dst != JD_PF_VALUE))
        return 0;
    uint64_t u = jd_run_le(s, (int)n);
    double d;
    if (n == 4) {
        uint32_t u32 = (uint32_t)u;
        float f;
        memcpy(&f, &u32, sizeof f);
        d = (double)f;
    } else {
        memcpy(&d, &u, sizeof d);
    }
    jd_run_put(r, op->op_dst, n == 4 ? JD_MV_FLOAT : JD_MV_DOUBLE, 0, d, NULL, 0);
    return 0;
}

/* A compound value (or bytes, fixed) at a mapped node: not a scalar. */
static inline void jd_run_other(jd_run_t *r, const jd_op_t *op)
{
    if (r->r_pg && op->op_dst >= 0)
        r->r_pg->pg_hooks->ph_other(r, op);
}

/* A scalar read as a number (int, long, enum index, boolean byte). */
static int jd_run_number(jd_run_t *r, const jd_op_t *op)
{
    int64_t v;
    int rc;

    switch ((jd_op_kind_t)op->op_kind) {
    case JD_OP_BOOL:
        if ((rc = jd_run_skip(r, 1, "input ends inside a boolean")))
            return rc;
        if (r->r_pg && op->op_dst >= 0)
            jd_run_put(r, op->op_dst, JD_MV_BOOL, r->r_p[r->r_pos - 1] != 0, 0, NULL, 0);
        return 0;
    case JD_OP_INT:
        rc = jd_run_index(r, INT32_MIN, (int64_t)INT32_MAX + 1, "int out of range", &v);
        break;
    case JD_OP_ENUM:
        if ((rc = jd_run_index(r, 0, op->op_n, "enum index out of range", &v)))
            return rc;
        if (r->r_pg && op->op_dst >= 0) {
            const char *sym = r->r_pg->pg_pool + r->r_pg->pg_syms[op->op_first + (uint32_t)v];
            jd_run_put(r, op->op_dst, JD_MV_ENUM, 0, 0, (const unsigned char *)sym,
                       strlen(sym));
        }
        return 0;
    default:
        rc = jd_run_long(r, &v);
        break;
    }
    if (!rc && op->op_dst >= 0)
        jd_run_put(r, op->op_dst, op->op_kind == JD_OP_INT ? JD_MV_INT : JD_MV_LONG, v, 0,
                   NULL, 0);
    return rc;
}

/* One datum. One case per op kind, hence the length. */
int jd__prog_op(jd_run_t *r, uint32_t i, int depth)
{
    const jd_op_t *op = &r->r_ops[i];
    const unsigned char *s;
    size_t n;
    int64_t v;
    int rc;

    if ((rc = jd__prog_work(r)))
        return rc;
    if (depth > JD_PROG_DEPTH_MAX)
        return jd__prog_fail(r, "nesting too deep", depth);
    switch ((jd_op_kind_t)op->op_kind) {
    case JD_OP_NULL:
        return 0;
    case JD_OP_BOOL:
    case JD_OP_INT:
    case JD_OP_LONG:
    case JD_OP_ENUM:
        return jd_run_number(r, op);
    case JD_OP_FLOAT:
    case JD_OP_DOUBLE:
        return jd_run_real(r, op);
    case JD_OP_STRING:
    case JD_OP_BYTES:
        if ((rc = jd_run_string(r, &s, &n)))
            return rc;
        if (op->op_dst >= 0 && op->op_kind == JD_OP_STRING)
            jd_run_put(r, op->op_dst, JD_MV_STRING, 0, 0, s, n);
        else
            jd_run_other(r, op);
        return 0;
    case JD_OP_FIXED:
        /* avro-c reads every value of a mapped record, and cannot read a
         * fixed of size 0 (avro_malloc(0) is NULL) nor a non-empty array
         * of records that take no memory (its array cannot grow):
         * jd_prog_run_mapped fails such a message once the walk has
         * accepted it, as the generic path does after its scan */
        if (r->r_pg && op->op_n == 0)
            r->r_unreadable = 1;
        jd_run_other(r, op);
        return jd_run_skip(r, op->op_n, "input ends inside a fixed");
    case JD_OP_UNION:
        if ((rc = jd_run_index(r, 0, op->op_n, "union branch out of range", &v)))
            return rc;
        if (r->r_pg && op->op_dst >= 0)
            r->r_pg->pg_hooks->ph_branch(r, op, v);
        if (r->r_ops[op->op_first + (uint32_t)v].op_dst == JD_PROG_DEAD)
            r->r_unreadable = 1; /* avro-c's resolver fails on that branch */
        return jd__prog_op(r, op->op_first + (uint32_t)v, depth + 1);
    case JD_OP_RECORD:
        jd_run_other(r, op);
        if (r->r_pg && op->op_dst >= 0)
            return r->r_pg->pg_hooks->ph_record(r, op, depth + 1);
        for (int64_t k = 0; k < op->op_n; k++) {
            if ((rc = jd__prog_op(r, op->op_first + (uint32_t)k, depth + 1)))
                return rc;
        }
        return 0;
    case JD_OP_ARRAY:
    case JD_OP_MAP:
        jd_run_other(r, op);
        return jd_run_blocks(r, op, depth + 1);
    case JD_OP_LINK:
        return jd__prog_op(r, op->op_first, depth + 1);
    }
    return jd__prog_fail(r, "unknown op", op->op_kind);
}

/* Walks the whole message (the structural rules), then checks that
 * nothing follows the record. */
int jd__prog_walk(jd_run_t *r, const jd_prog_t *pg, jd_prog_state_t *ps,
                       const unsigned char *p, size_t len, jd_err_t *err)
{
    r->r_p = p;
    r->r_len = len;
    r->r_pos = 0;
    r->r_work = 0;
    r->r_work_max = JD_PROG_WORK_MAX(len);
    r->r_ops = pg->pg_ops;
    r->r_err = err;
    r->r_set = 0;
    r->r_ts = 0;
    r->r_val = 0;
    r->r_kv = ps ? ps->ps_kv : NULL;
    r->r_kv_n = 0;
    r->r_kv_cap = ps ? ps->ps_kv_cap : 0;
    r->r_kv_seen = 0;
    r->r_unreadable = 0;
    r->r_pg = pg->pg_nodes ? pg : NULL;
    if (r->r_pg) {
        memset(r->r_slot, 0, pg->pg_nslots * sizeof r->r_slot[0]);
        memset(r->r_umem, 0, pg->pg_ntrie * sizeof r->r_umem[0]);
        r->r_mkv = ps ? ps->ps_mkv : NULL;
        r->r_mkv_n = 0;
        r->r_mkv_cap = ps ? ps->ps_mkv_cap : 0;
        r->r_container = 0;
        r->r_overflow = 0;
    }
    int rc = jd__prog_op(r, 0, 0);
    if (rc)
        return rc;
    if (r->r_pos != len)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_TRAILING_BYTES,
                          "%zu bytes follow the %zu-byte record", len - r->r_pos, r->r_pos);
    if (r->r_unreadable) /* well-formed, but avro-c's reader fails on it */
        return jd_err_set(err, JD_ERR_SKIP, JD_E_MALFORMED,
                          "Avro binary does not decode: it holds a value avro-c cannot read (a "
                          "writer union branch that does not resolve to the reader field, a "
                          "fixed of size 0, an array of empty records)");
    return 0;
}

int jd_prog_scan(const jd_prog_t *pg, const void *buf, size_t len, jd_err_t *err)
{
    jd_run_t r;
    return jd__prog_walk(&r, pg, NULL, buf, len, err);
}
