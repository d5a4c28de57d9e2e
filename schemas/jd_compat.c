/*
 * jd_compat: refuses, before avro-c sees them, the writer/reader pairs on
 * which avro_resolved_writer_new() crashes (see jd_compat.h for the
 * avro-c bug). Pure: no I/O, no allocation, no avro-c resolver call.
 *
 * Two functions. jd_compat_resolves() is the Avro resolution rule as
 * avro-c implements it - never more permissive than avro-c, or a pair it
 * refuses would slip through. jd_compat_walk() follows avro-c's resolver
 * through the pair (records field by field up to the first field that
 * does not resolve, every writer union branch, reader union branches up
 * to the first that accepts) and stops at the first writer map/array
 * whose reader is a map/array with values/items that do not resolve: the
 * shape that crashes. Deeper containers are checked first, so the
 * message names the innermost field path.
 *
 * Recursion is bounded by JD_COMPAT_DEPTH (a recursive writer schema
 * against a finite reader descends the reader at every record and
 * container, so real schemas stay far below it); past it the pair is
 * refused rather than guessed at. Thread: any.
 */
#include "jd_compat.h"

#include <stdio.h>
#include <string.h>

#define JD_COMPAT_DEPTH 32
#define JD_COMPAT_PATH 256
#define JD_COMPAT_TYPE 96

static avro_schema_t jd_compat_deref(avro_schema_t s)
{
    for (int i = 0; s && is_avro_link(s) && i < JD_COMPAT_DEPTH; i++)
        s = avro_schema_link_target(s);
    return s;
}

static int jd_compat_promotes(avro_type_t w, avro_type_t r)
{
    if (w == r)
        return 1;
    switch (w) {
    case AVRO_INT32: return r == AVRO_INT64 || r == AVRO_FLOAT || r == AVRO_DOUBLE;
    case AVRO_INT64: return r == AVRO_FLOAT || r == AVRO_DOUBLE;
    case AVRO_FLOAT: return r == AVRO_DOUBLE;
    default: return 0;
    }
}

static int jd_compat_match(avro_schema_t w, avro_schema_t r, int depth);

static int jd_compat_record(avro_schema_t w, avro_schema_t r, int depth)
{
    if (strcmp(avro_schema_name(w), avro_schema_name(r)) != 0)
        return 0;
    size_t n = avro_schema_record_size(r);
    for (size_t i = 0; i < n; i++) {
        int wi = avro_schema_record_field_get_index(
            w, avro_schema_record_field_name(r, (int)i));
        if (wi < 0 ||
            !jd_compat_match(avro_schema_record_field_get_by_index(w, wi),
                             avro_schema_record_field_get_by_index(r, (int)i),
                             depth + 1))
            return 0;
    }
    return 1;
}

/* jd_compat_resolves() with a depth bound. */
static int jd_compat_match(avro_schema_t w, avro_schema_t r, int depth)
{
    w = jd_compat_deref(w);
    r = jd_compat_deref(r);
    if (!w || !r || depth > JD_COMPAT_DEPTH || is_avro_link(w) || is_avro_link(r))
        return 0;
    if (is_avro_union(w)) {
        for (size_t i = 0; i < avro_schema_union_size(w); i++)
            if (jd_compat_match(avro_schema_union_branch(w, (int)i), r, depth + 1))
                return 1;
        return 0;
    }
    if (is_avro_union(r)) {
        for (size_t i = 0; i < avro_schema_union_size(r); i++)
            if (jd_compat_match(w, avro_schema_union_branch(r, (int)i), depth + 1))
                return 1;
        return 0;
    }
    switch (avro_typeof(w)) {
    case AVRO_MAP:
        return is_avro_map(r) && jd_compat_match(avro_schema_map_values(w),
                                                 avro_schema_map_values(r), depth + 1);
    case AVRO_ARRAY:
        return is_avro_array(r) && jd_compat_match(avro_schema_array_items(w),
                                                   avro_schema_array_items(r), depth + 1);
    case AVRO_RECORD:
        return is_avro_record(r) && jd_compat_record(w, r, depth);
    case AVRO_ENUM:
        return is_avro_enum(r) && strcmp(avro_schema_name(w), avro_schema_name(r)) == 0;
    case AVRO_FIXED:
        return is_avro_fixed(r) && avro_schema_equal(w, r);
    default:
        return jd_compat_promotes(avro_typeof(w), avro_typeof(r));
    }
}

int jd_compat_resolves(avro_schema_t writer, avro_schema_t reader)
{
    return jd_compat_match(writer, reader, 0);
}

/* ---- the walk ------------------------------------------------------------ */

/* Appends a short readable form of `s` to buf (which holds *at bytes):
 * "map<double>", "array<string>", "[null, map<long>]", a named type's
 * name. Truncates, never overflows. */
static void jd_compat_put(char *buf, size_t len, size_t *at, const char *str)
{
    size_t n = strlen(str);
    if (*at + 1 >= len)
        return;
    if (n > len - 1 - *at)
        n = len - 1 - *at;
    memcpy(buf + *at, str, n);
    *at += n;
    buf[*at] = '\0';
}

static void jd_compat_type_at(avro_schema_t s, char *buf, size_t len, size_t *at,
                              int depth)
{
    s = jd_compat_deref(s);
    if (!s || depth > 4) {
        jd_compat_put(buf, len, at, "...");
    } else if (is_avro_map(s) || is_avro_array(s)) {
        jd_compat_put(buf, len, at, is_avro_map(s) ? "map<" : "array<");
        jd_compat_type_at(is_avro_map(s) ? avro_schema_map_values(s)
                                         : avro_schema_array_items(s),
                          buf, len, at, depth + 1);
        jd_compat_put(buf, len, at, ">");
    } else if (is_avro_union(s)) {
        for (size_t i = 0; i < avro_schema_union_size(s); i++) {
            jd_compat_put(buf, len, at, i ? ", " : "[");
            jd_compat_type_at(avro_schema_union_branch(s, (int)i), buf, len, at,
                              depth + 1);
        }
        jd_compat_put(buf, len, at, "]");
    } else {
        jd_compat_put(buf, len, at, is_avro_named_type(s) ? avro_schema_name(s)
                                                          : avro_schema_type_name(s));
    }
}

static void jd_compat_type(avro_schema_t s, char *buf, size_t len, int depth)
{
    size_t at = 0;
    buf[0] = '\0';
    jd_compat_type_at(s, buf, len, &at, depth);
}

typedef struct jd_compat_walk {
    char      cw_path[JD_COMPAT_PATH];
    jd_err_t *cw_err;
} jd_compat_walk_t;

static int jd_compat_walk(jd_compat_walk_t *cw, avro_schema_t w, avro_schema_t r,
                          int depth);

static int jd_compat_refuse(jd_compat_walk_t *cw, avro_schema_t w, avro_schema_t r,
                            const char *why)
{
    char wt[JD_COMPAT_TYPE], rt[JD_COMPAT_TYPE], wi[JD_COMPAT_TYPE], ri[JD_COMPAT_TYPE];

    jd_compat_type(w, wt, sizeof wt, 0);
    jd_compat_type(r, rt, sizeof rt, 0);
    if (why && !w)
        return jd_err_set(cw->cw_err, JD_ERR_FATAL, JD_E_SCHEMA, "field '%s' (reader %s): %s",
                          cw->cw_path[0] ? cw->cw_path : "(top)", rt, why);
    if (why)
        return jd_err_set(cw->cw_err, JD_ERR_FATAL, JD_E_SCHEMA,
                          "field '%s': writer %s %s to reader %s",
                          cw->cw_path[0] ? cw->cw_path : "(top)", wt, why, rt);
    int map = is_avro_map(w);
    jd_compat_type(map ? avro_schema_map_values(w) : avro_schema_array_items(w),
                   wi, sizeof wi, 0);
    jd_compat_type(map ? avro_schema_map_values(r) : avro_schema_array_items(r),
                   ri, sizeof ri, 0);
    return jd_err_set(cw->cw_err, JD_ERR_FATAL, JD_E_SCHEMA,
                      "field '%s': writer %s does not resolve to reader %s "
                      "(%s %s cannot be read as %s)",
                      cw->cw_path[0] ? cw->cw_path : "(top)", wt, rt,
                      map ? "map values" : "array items", wi, ri);
}

/* Map against map, array against array: the items first (the innermost
 * path is the clearest), then the items themselves. */
static int jd_compat_container(jd_compat_walk_t *cw, avro_schema_t w,
                               avro_schema_t r, int depth)
{
    int map = is_avro_map(w);
    avro_schema_t wi = map ? avro_schema_map_values(w) : avro_schema_array_items(w);
    avro_schema_t ri = map ? avro_schema_map_values(r) : avro_schema_array_items(r);
    size_t len = strlen(cw->cw_path);
    int rc;

    snprintf(cw->cw_path + len, sizeof cw->cw_path - len, "%s", map ? "{}" : "[]");
    rc = jd_compat_walk(cw, wi, ri, depth + 1);
    cw->cw_path[len] = '\0';
    if (rc)
        return rc;
    return jd_compat_match(wi, ri, depth + 1) ? 0 : jd_compat_refuse(cw, w, r, NULL);
}

/* Reader fields in order, as avro-c resolves them. A record that does
 * not resolve is refused here, not left to avro-c: its clean-up of the
 * fields resolved so far frees resolvers it shares (memoized) with other
 * fields - a double free on a union field followed by a field that does
 * not resolve, seen by fuzz_registry. */
static int jd_compat_fields(jd_compat_walk_t *cw, avro_schema_t w, avro_schema_t r,
                            int depth)
{
    size_t n = avro_schema_record_size(r), len = strlen(cw->cw_path);
    int rc = 0;

    for (size_t i = 0; !rc && i < n; i++) {
        const char *name = avro_schema_record_field_name(r, (int)i);
        int wi = avro_schema_record_field_get_index(w, name);
        avro_schema_t rf = avro_schema_record_field_get_by_index(r, (int)i);
        snprintf(cw->cw_path + len, sizeof cw->cw_path - len, "%s%s",
                 len ? "." : "", name);
        if (wi < 0) {
            rc = jd_compat_refuse(cw, NULL, rf, "the writer has no such field");
            break;
        }
        avro_schema_t wf = avro_schema_record_field_get_by_index(w, wi);
        if (!(rc = jd_compat_walk(cw, wf, rf, depth + 1)) &&
            !jd_compat_match(wf, rf, depth + 1))
            rc = jd_compat_refuse(cw, wf, rf, "does not resolve");
    }
    cw->cw_path[len] = '\0';
    return rc;
}

static int jd_compat_walk(jd_compat_walk_t *cw, avro_schema_t w, avro_schema_t r,
                          int depth)
{
    int rc;

    w = jd_compat_deref(w);
    r = jd_compat_deref(r);
    if (!w || !r || depth > JD_COMPAT_DEPTH || is_avro_link(w) || is_avro_link(r))
        return jd_compat_refuse(cw, w, r, "is nested too deeply to check against");
    if (is_avro_union(w)) { /* avro-c tries every writer branch */
        for (size_t i = 0; i < avro_schema_union_size(w); i++)
            if ((rc = jd_compat_walk(cw, avro_schema_union_branch(w, (int)i), r,
                                     depth + 1)))
                return rc;
        return 0;
    }
    if (is_avro_union(r)) { /* ... and reader branches up to a match */
        for (size_t i = 0; i < avro_schema_union_size(r); i++) {
            avro_schema_t rb = avro_schema_union_branch(r, (int)i);
            if ((rc = jd_compat_walk(cw, w, rb, depth + 1)))
                return rc;
            if (jd_compat_match(w, rb, depth + 1))
                break;
        }
        return 0;
    }
    if ((is_avro_map(w) && is_avro_map(r)) || (is_avro_array(w) && is_avro_array(r)))
        return jd_compat_container(cw, w, r, depth);
    if (is_avro_record(w) && is_avro_record(r) &&
        strcmp(avro_schema_name(w), avro_schema_name(r)) == 0)
        return jd_compat_fields(cw, w, r, depth);
    return 0;
}

int jd_compat_check(avro_schema_t writer, avro_schema_t reader, jd_err_t *err)
{
    jd_compat_walk_t cw = {.cw_err = err};
    int rc = jd_compat_walk(&cw, writer, reader, 0);
    if (!rc && !jd_compat_match(writer, reader, 0))
        rc = jd_compat_refuse(&cw, writer, reader, "does not resolve");
    return rc;
}
