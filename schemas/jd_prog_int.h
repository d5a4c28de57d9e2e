/*
 * jd_prog_int.h: what jd_prog.c (compiling and running decode programs)
 * and jd_prog_map.c (programs for mapped upstream records) share: the op
 * array, the compiler's state, the run state and the bounds-checked
 * readers of Avro binary. Private to schemas/.
 */
#ifndef JD_PROG_INT_H
#define JD_PROG_INT_H

#include <inttypes.h>
#include <string.h>

#include "jd_codec_int.h"
#include "jd_mapping.h"
#include "jd_prog.h"

typedef enum jd_op_kind {
    JD_OP_NULL,
    JD_OP_BOOL,
    JD_OP_INT,
    JD_OP_LONG,
    JD_OP_FLOAT,
    JD_OP_DOUBLE,
    JD_OP_STRING,
    JD_OP_BYTES,
    JD_OP_FIXED,
    JD_OP_ENUM,
    JD_OP_UNION,
    JD_OP_RECORD,
    JD_OP_ARRAY,
    JD_OP_MAP,
    JD_OP_LINK,
} jd_op_kind_t;

typedef struct jd_op {
    uint8_t  op_kind;
    int16_t  op_dst;   /* product programs: the jd_pf_t the value goes to;
                          mapped programs: a jd_mnode_t; -1: skipped */
    uint32_t op_first; /* RECORD: first field; UNION: first branch;
                          ARRAY/MAP: item op; LINK: target op;
                          ENUM (mapped): first symbol in pg_syms */
    int64_t  op_n;     /* RECORD fields, UNION branches, FIXED size,
                          ENUM symbols; MAP (mapped): key table, first
                          entry << 32 | count; ARRAY (mapped): 1 when its
                          items take no memory in avro-c (unreadable) */
} jd_op_t;

/* Mapped programs: what a value at one position of the writer schema
 * means for the mapping (a node of the path trie, seen from one op). */
typedef struct jd_mnode {
    uint64_t mn_term;   /* slots whose path ends here */
    uint64_t mn_sub;    /* slots whose path ends here or below */
    int32_t  mn_trie;   /* trie node: union branch memory */
    uint8_t  mn_attrs;  /* the attributes container is here */
    uint8_t  mn_asub;   /* ... here or below */
    uint8_t  mn_entry;  /* the value is an entry of the container */
    uint32_t mn_key;    /* a record container's field: its name in pg_pool */
    uint32_t mn_klen;
} jd_mnode_t;

/* Mapped programs: a map key that leads somewhere, and its item op. */
typedef struct jd_mkey {
    uint32_t mk_off;  /* the key in pg_pool */
    uint32_t mk_len;
    uint32_t mk_op;
} jd_mkey_t;

struct jd_prog {
    jd_op_t    *pg_ops;
    size_t      pg_n;
    size_t      pg_cap;
    /* mapped programs only */
    jd_mnode_t *pg_nodes;
    size_t      pg_nnodes;
    jd_mkey_t  *pg_keys;
    size_t      pg_nkeys;
    uint32_t   *pg_syms;   /* enum symbols: offsets into pg_pool */
    size_t      pg_nsyms;
    char       *pg_pool;   /* NUL-terminated names */
    size_t      pg_pool_n;
    size_t      pg_ntrie;  /* trie nodes: union memory entries */
    size_t      pg_nslots;
    const struct jd_prog_hooks *pg_hooks; /* jd_prog_map.c's walk */
};

/* ---- compilation --------------------------------------------------------- */

#define JD_PROG_MEMO_MAX 1024
#define JD_PROG_TRIE_MAX (JD_MAP_SLOTS_MAX * JD_MAP_MAX_STEPS + 1)
#define JD_PROG_TOP (-2)  /* compiling the product record's own fields */
#define JD_PROG_DEAD (-4) /* a union branch avro-c cannot resolve: fails */
#define JD_PROG_ATTR_VAL JD_PF__COUNT /* a union value of the attributes map */

struct jd_mcomp;

typedef struct jd_comp {
    jd_prog_t       *cp_pg;
    avro_schema_t    cp_memo_s[JD_PROG_MEMO_MAX]; /* records compiled */
    int              cp_memo_dst[JD_PROG_MEMO_MAX];
    uint32_t         cp_memo_op[JD_PROG_MEMO_MAX];
    size_t           cp_memo_n;
    int              cp_dst; /* 0: a scan program, every value skipped */
    struct jd_mcomp *cp_map; /* a mapped program's trie, or NULL */
    const struct jd_prog_hooks *cp_hooks; /* with cp_map: its compiler */
} jd_comp_t;

/* Reserves n consecutive ops; the first index, or -1 (no memory). */
int64_t jd__prog_reserve(jd_comp_t *cp, size_t n);
/* Compiles datum schema `s` into op `slot` with destination `dst`: 0, 1
 * (a shape the product fast path leaves to avro-c), 2 (too many records)
 * or JD_ERR_FATAL (no memory). */
int jd__prog_emit(jd_comp_t *cp, int64_t slot, avro_schema_t s, int dst, int in_union);

/* Compiles the record `writer` with its root at `dst` into cp->cp_pg
 * (allocated by the caller, freed on failure): 0 and *out, 1 (left to
 * avro-c), JD_ERR_FATAL with err. */
int jd__prog_build(jd_comp_t *cp, avro_schema_t writer, int dst, jd_prog_t **out,
                   jd_err_t *err);

/* ---- running ------------------------------------------------------------- */

typedef struct jd_run {
    const unsigned char *r_p;
    size_t               r_len;
    size_t               r_pos;
    uint64_t             r_work;
    uint64_t             r_work_max;
    const jd_op_t       *r_ops;
    jd_err_t            *r_err;
    unsigned             r_set; /* bit per jd_pf_t that received a value */
    const unsigned char *r_str[JD_PF__COUNT + 1]; /* + JD_PROG_ATTR_VAL */
    size_t               r_strn[JD_PF__COUNT + 1];
    int64_t              r_ts;
    double               r_val;
    jd_prog_kv_t        *r_kv;
    size_t               r_kv_n;
    size_t               r_kv_cap;
    size_t               r_kv_seen; /* entries read, repeated keys included */
    /* mapped programs only */
    const jd_prog_t     *r_pg;      /* NULL: a product or scan program */
    jd_map_val_t         r_slot[JD_MAP_SLOTS_MAX];
    jd_map_val_t         r_entry;   /* the container entry being read */
    uint64_t             r_umem[JD_PROG_TRIE_MAX]; /* per trie node: the
                                       union op + 1 << 32 | its branch */
    jd_map_kv_t         *r_mkv;     /* container entries, first position */
    size_t               r_mkv_n;
    size_t               r_mkv_cap;
    int                  r_container; /* the container was read */
    int                  r_overflow;  /* more entries than r_mkv_cap */
    int                  r_unreadable; /* a value avro-c cannot read */
} jd_run_t;

/* Walks the whole message with `pg` (scratch from `ps`, NULL for a scan),
 * then checks that nothing follows the record and that it holds no value
 * avro-c's reader would fail on (r_unreadable: after the structural
 * checks, as the generic path reads only what its scan accepted). */
int jd__prog_walk(jd_run_t *r, const jd_prog_t *pg, jd_prog_state_t *ps,
                  const unsigned char *p, size_t len, jd_err_t *err);
int jd__prog_fail(jd_run_t *r, const char *what, int64_t v);
int jd__prog_work(jd_run_t *r);
int jd__prog_op(jd_run_t *r, uint32_t i, int depth);

static inline size_t jd_run_left(const jd_run_t *r)
{
    return r->r_len - r->r_pos;
}

/* Zig-zag varint of at most 10 bytes (extra high bits dropped, as avro-c). */
static inline int jd_run_long(jd_run_t *r, int64_t *out)
{
    uint64_t v = 0;
    *out = 0;
    for (int i = 0; i < 10; i++) {
        if (r->r_pos >= r->r_len)
            return jd__prog_fail(r, "input ends inside a varint", i);
        unsigned char b = r->r_p[r->r_pos++];
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return 0;
        }
    }
    return jd__prog_fail(r, "varint longer than 10 bytes", 10);
}

static inline int jd_run_index(jd_run_t *r, int64_t lo, int64_t hi, const char *what,
                               int64_t *out)
{
    int rc = jd_run_long(r, out);
    if (rc)
        return rc;
    if (*out < lo || *out >= hi)
        return jd__prog_fail(r, what, *out);
    return 0;
}

static inline int jd_run_skip(jd_run_t *r, int64_t n, const char *what)
{
    if (n < 0 || (uint64_t)n > jd_run_left(r))
        return jd__prog_fail(r, what, n);
    r->r_pos += (size_t)n;
    return 0;
}

/* A string or bytes: a slice of the message. */
static inline int jd_run_string(jd_run_t *r, const unsigned char **s, size_t *n)
{
    int64_t len;
    int rc = jd_run_long(r, &len);
    if (rc)
        return rc;
    *s = r->r_p + r->r_pos;
    *n = (size_t)len;
    return jd_run_skip(r, len, "string length is negative or exceeds input");
}

/* A map key as avro-c keeps it: a C string, so it ends at its first NUL. */
static inline size_t jd_run_keylen(const unsigned char *k, size_t kn)
{
    const unsigned char *nul = kn ? memchr(k, 0, kn) : NULL;
    return nul ? (size_t)(nul - k) : kn;
}
 
/* What mapped programs add to the compiler and to the walk. jd_prog_map.c
 * provides it (cp_hooks, pg_hooks) and jd_prog.c calls through it, so the
 * core compiler and walk know nothing of mappings:
 *   ph_field   the node of record field `name` under node `dst`, or -1;
 *   ph_keys    the item ops and key table of a map at `slot`;
 *   ph_enum    the symbols of an enum at `slot`, into the program;
 *   ph_put     a scalar read at node `nd`;
 *   ph_other   a value at a node that is not a scalar (record, map, ...);
 *   ph_branch  the branch a union at a node takes;
 *   ph_record  a record at a node (the container's fields as entries);
 *   ph_entry   one entry of a map at a node, its key read. */
typedef struct jd_prog_hooks {
    int  (*ph_field)(jd_comp_t *cp, int dst, const char *name);
    int  (*ph_keys)(jd_comp_t *cp, int64_t slot, avro_schema_t items, int dst);
    int  (*ph_enum)(jd_comp_t *cp, int64_t slot, avro_schema_t s);
    void (*ph_put)(jd_run_t *r, int nd, const jd_map_val_t *v);
    void (*ph_other)(jd_run_t *r, const jd_op_t *op);
    void (*ph_branch)(jd_run_t *r, const jd_op_t *op, int64_t branch);
    int  (*ph_record)(jd_run_t *r, const jd_op_t *op, int depth);
    int  (*ph_entry)(jd_run_t *r, const jd_op_t *op, const unsigned char *key, size_t klen,
                     int depth);
} jd_prog_hooks_t;

#endif
