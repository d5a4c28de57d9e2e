/*
 * jd_rules: loads the rules file into an immutable ruleset, and runs the
 * ruleset on one account (contract in jd_rules.h).
 *
 * Loading (start-up only) uses libyaml's document API, so every node keeps
 * its start mark and each error points at the node that is wrong:
 * "FILE:LINE:COLUMN: rule 'ID': message" (1-based; "rule #N" while the id
 * is unknown or invalid; no rule part for file-level errors). A `when`
 * error points inside the condition: for a condition on one line, plain or
 * quoted, the column is that of the offending character in the file (the
 * raw source is walked, undoing quote escapes); for a block or multi-line
 * scalar the position is the scalar's and the message ends with the
 * column inside the condition. The first error stops the load.
 *
 * A rule's version is the first 16 hex digits of XXH3-64 over its
 * normalised text (id, kind, normalised condition, severity, play,
 * cooldown in ms, description), so reformatting a condition does not
 * change the version and any change of meaning does.
 *
 * Evaluation (hot path, any thread, ruleset shared read-only): each rule's
 * compiled condition runs on the account's signals, jd_decide() applies
 * the episode/cooldown logic with now = the as_of signal, and a FIRE fills
 * a trigger on the caller's storage. Nothing allocates; the trigger's
 * reason and evidence are formatted only for rules that fire.
 *
 * Ownership: the ruleset owns its rules, their strings and expressions.
 */
#include "jd_rules.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>
#include <yaml.h>

#include "jd_expr.h"
#include "jd_rules_int.h"

#define JD_RULES_MAX          1000      /* rules per file */
#define JD_RULES_FILE_MAX     (1 << 20) /* bytes of a rules file */
#define JD_RULES_ID_MAX       100
#define JD_RULES_PLAY_MAX     200
#define JD_RULES_DESC_MAX     300

#define JD_RULES_LIST_MAX     64        /* segments, suppressed_by, parts */

enum { K_ID, K_KIND, K_WHEN, K_SEVERITY, K_PLAY, K_COOLDOWN, K_DESCRIPTION,
       K_FOR, K_PRIORITY, K_SEGMENTS, K_RESOLVE, K_SUPPRESSED_BY, K_MODE,
       K_SCORE, K_LEVELS, K__COUNT };

static const struct { const char *name; int required; } jd_rule_keys[] = {
    [K_ID] = {"id", 1},             [K_KIND] = {"kind", 1},
    [K_WHEN] = {"when", 1},         [K_SEVERITY] = {"severity", 1},
    [K_PLAY] = {"play", 0},         [K_COOLDOWN] = {"cooldown", 0},
    [K_DESCRIPTION] = {"description", 0},
    [K_FOR] = {"for", 0},           [K_PRIORITY] = {"priority", 0},
    [K_SEGMENTS] = {"segments", 0}, [K_RESOLVE] = {"resolve", 0},
    [K_SUPPRESSED_BY] = {"suppressed_by", 0}, [K_MODE] = {"mode", 0},
    [K_SCORE] = {"score", 0},       [K_LEVELS] = {"levels", 0},
};

/* Load-time context. */
typedef struct jd_loader {
    const char      *ld_name;    /* file name used in messages */
    const char      *ld_text;    /* raw source, for `when` columns */
    size_t           ld_len;
    yaml_document_t *ld_doc;
    jd_err_t        *ld_err;
    jd_ruleset_t    *ld_rs;
    size_t           ld_index;   /* 1-based number of the rule being read */
    const char      *ld_rule_id; /* its id, once known and valid */
} jd_loader_t;

/* ---- errors ------------------------------------------------------------ */

/* "NAME:LINE:COL: [rule 'ID': ]message" with 1-based line and column. */
static int jd_rules_fail(const jd_loader_t *ld, size_t line, size_t col,
                         const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int jd_rules_fail(const jd_loader_t *ld, size_t line, size_t col,
                         const char *fmt, ...)
{
    char what[JD_ERR_MSG_MAX], rule[160] = "";
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (ld->ld_rule_id)
        snprintf(rule, sizeof rule, "rule '%s': ", ld->ld_rule_id);
    else if (ld->ld_index)
        snprintf(rule, sizeof rule, "rule #%zu: ", ld->ld_index);
    return jd_err_set(ld->ld_err, JD_ERR_FATAL, JD_E_RULES, "%s:%zu:%zu: %s%s",
                      ld->ld_name, line, col, rule, what);
}

/* Reports at a node's start. */
#define jd_rules_fail_at(ld, node, ...) \
    jd_rules_fail((ld), (node)->start_mark.line + 1, \
                  (node)->start_mark.column + 1, __VA_ARGS__)

static int jd_rules_yaml_error(const jd_loader_t *ld, const yaml_parser_t *yp)
{
    size_t line = yp->problem_mark.line + 1, col = yp->problem_mark.column + 1;

    if (yp->error == YAML_MEMORY_ERROR)
        return jd_err_set(ld->ld_err, JD_ERR_FATAL, JD_E_NOMEM,
                          "%s: out of memory", ld->ld_name);
    if (yp->error == YAML_READER_ERROR) { /* bad bytes: only an offset */
        line = 1;
        col = 1;
        for (size_t i = 0; i < yp->problem_offset && i < ld->ld_len; i++) {
            col = ld->ld_text[i] == '\n' ? 1 : col + 1;
            line += ld->ld_text[i] == '\n';
        }
    }
    if (yp->context)
        return jd_rules_fail(ld, line, col, "invalid YAML: %s (%s at line %zu)",
                             yp->problem ? yp->problem : "syntax error",
                             yp->context, yp->context_mark.line + 1);
    return jd_rules_fail(ld, line, col, "invalid YAML: %s",
                         yp->problem ? yp->problem : "syntax error");
}

/* ---- scalars ----------------------------------------------------------- */

static yaml_node_t *jd_rules_node(const jd_loader_t *ld, int index)
{
    return yaml_document_get_node(ld->ld_doc, index);
}

/* The text of a scalar value of `key`, or an error if it is a mapping, a
 * list, or holds a NUL byte. */
static int jd_rules_scalar(const jd_loader_t *ld, const yaml_node_t *node,
                           const char *key, const char **out)
{
    *out = "";
    if (node->type != YAML_SCALAR_NODE) {
        jd_rules_fail_at(ld, node, "'%s' must be a single value, not a %s",
                         key, node->type == YAML_MAPPING_NODE ? "mapping"
                                                              : "list");
        return -1;
    }
    if (strlen((const char *)node->data.scalar.value) !=
        node->data.scalar.length) {
        jd_rules_fail_at(ld, node, "'%s' contains a NUL character", key);
        return -1;
    }
    *out = (const char *)node->data.scalar.value;
    return 0;
}

static int jd_rules_valid_id(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > JD_RULES_ID_MAX)
        return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* Copies a free-text value (play, description): no control characters
 * except that line breaks and tabs (from folded YAML) become spaces, and
 * trailing white space is dropped. */
static char *jd_rules_text_dup(const char *s, int *bad)
{
    size_t n = strlen(s);
    char *d;

    *bad = 0;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t' ||
                     s[n - 1] == '\r'))
        n--;
    if (!(d = strndup(s, n)))
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '\n' || d[i] == '\t' || d[i] == '\r')
            d[i] = ' ';
        else if ((unsigned char)d[i] < 0x20 || d[i] == 0x7f)
            *bad = 1;
    }
    return d;
}

/* ---- `when` positions -------------------------------------------------- */

/* Byte offset of the start of 0-based `line` in the source (libyaml counts
 * \r\n, \r and \n as one break each), or -1 when the line does not exist. */
static long jd_rules_line_start(const jd_loader_t *ld, size_t line)
{
    size_t i = 0;

    if (ld->ld_len >= 3 && !memcmp(ld->ld_text, "\xEF\xBB\xBF", 3))
        i = 3; /* a UTF-8 BOM is not a column */
    for (; line > 0 && i < ld->ld_len; i++) {
        if (ld->ld_text[i] == '\r' && i + 1 < ld->ld_len &&
            ld->ld_text[i + 1] == '\n')
            i++;
        if (ld->ld_text[i] == '\n' || ld->ld_text[i] == '\r')
            line--;
    }
    return line == 0 ? (long)i : -1;
}

/* Source characters used by one decoded character of a quoted scalar at
 * s[0..]: 2 for '' and for simple \ escapes, 4/6/10 for \x \u \U. */
static size_t jd_rules_quoted_width(const char *s, char quote)
{
    if (quote == '\'')
        return s[0] == '\'' ? 2 : 1;
    if (s[0] != '\\')
        return 1;
    return s[1] == 'x' ? 4 : s[1] == 'u' ? 6 : s[1] == 'U' ? 10 : 2;
}

/* 1-based file column of the character that starts decoded character
 * `skip` (0-based, in characters) of a quoted scalar opening at byte
 * `q` (its quote) in source column `qcol` (0-based). 0 if it cannot be
 * found on that line. */
static size_t jd_rules_quoted_column(const jd_loader_t *ld, size_t q,
                                     size_t qcol, size_t skip)
{
    char quote = ld->ld_text[q];
    size_t i = q + 1, col = qcol + 1;

    while (i < ld->ld_len) {
        unsigned char c = (unsigned char)ld->ld_text[i];
        size_t w;
        if ((c & 0xC0) == 0x80) { /* continuation byte: same character */
            i++;
            continue;
        }
        if (skip == 0) /* may be the closing quote: "end of expression" */
            return col + 1;
        if (c == '\n' || c == '\r')
            return 0;
        if (c == (unsigned char)quote && (quote != '\'' || i + 1 >= ld->ld_len
                                          || ld->ld_text[i + 1] != '\''))
            return 0; /* closing quote */
        w = jd_rules_quoted_width(ld->ld_text + i, quote);
        skip--;
        i += w;
        col += w;
    }
    return 0;
}

/* File line and column of character expr_col (1-based) of the `when`
 * scalar. Returns 1 when exact, 0 when only the scalar's start is known. */
static int jd_rules_when_pos(const jd_loader_t *ld, const yaml_node_t *node,
                             size_t expr_col, size_t *line, size_t *col)
{
    yaml_scalar_style_t style = node->data.scalar.style;
    long start;
    size_t i, c;

    *line = node->start_mark.line + 1;
    *col = node->start_mark.column + 1;
    if (node->start_mark.line != node->end_mark.line)
        return 0;
    if (style == YAML_PLAIN_SCALAR_STYLE) {
        *col = node->start_mark.column + expr_col;
        return 1;
    }
    if ((style != YAML_SINGLE_QUOTED_SCALAR_STYLE &&
         style != YAML_DOUBLE_QUOTED_SCALAR_STYLE) ||
        (start = jd_rules_line_start(ld, node->start_mark.line)) < 0)
        return 0;
    for (i = (size_t)start, c = 0;
         i < ld->ld_len && c < node->start_mark.column; i++)
        if (((unsigned char)ld->ld_text[i] & 0xC0) != 0x80)
            c++;
    while (i < ld->ld_len && ((unsigned char)ld->ld_text[i] & 0xC0) == 0x80)
        i++;
    if (i >= ld->ld_len || (ld->ld_text[i] != '"' && ld->ld_text[i] != '\''))
        return 0;
    c = jd_rules_quoted_column(ld, i, node->start_mark.column, expr_col - 1);
    if (c)
        *col = c;
    return c != 0;
}

/* Compiles the condition and requires it to be boolean. */
static int jd_rules_compile(const jd_loader_t *ld, const yaml_node_t *node,
                            const char *text, const char *key,
                            jd_val_type_t want, jd_expr_t **out)
{
    size_t ecol, line, col;
    jd_err_t eerr;

    if (jd_expr_compile(text, out, &ecol, &eerr) != 0) {
        if (eerr.err_code == JD_E_NOMEM) {
            *ld->ld_err = eerr;
            return eerr.err_class;
        }
        if (jd_rules_when_pos(ld, node, ecol, &line, &col))
            return jd_rules_fail(ld, line, col, "%s", jd_expr_err_what(&eerr));
        return jd_rules_fail(ld, line, col, "%s (column %zu of '%s')",
                             jd_expr_err_what(&eerr), ecol, key);
    }
    if (want == JD_VAL_NUM && jd_expr_type(*out) != JD_VAL_NUM)
        return jd_rules_fail_at(ld, node, "'%s' must be a number, but '%s' is "
                                "%s", key, jd_expr_text(*out),
                                jd_expr_type(*out) == JD_VAL_BOOL ?
                                "a condition (true/false)" :
                                jd_expr_type(*out) == JD_VAL_STR ? "a string"
                                : "always null");
    if (want == JD_VAL_BOOL && jd_expr_type(*out) != JD_VAL_BOOL)
        return jd_rules_fail_at(ld, node, "'%s' must be a condition (true/"
                                "false), but '%s' is %s", key,
                                jd_expr_text(*out),
                                jd_expr_type(*out) == JD_VAL_NUM ? "a number"
                                : jd_expr_type(*out) == JD_VAL_STR ? "a string"
                                : "always null");
    return 0;
}

/* ---- one rule ---------------------------------------------------------- */

/* Sorts the pairs of a rule mapping into vals[K_*] (keys into keys[]);
 * reports unknown and repeated keys. Sets ld_rule_id as soon as a valid
 * id is seen, so that later messages name the rule. */
static int jd_rules_collect(jd_loader_t *ld, const yaml_node_t *map,
                            yaml_node_t **keys, yaml_node_t **vals)
{
    const yaml_node_pair_t *pair;
    const yaml_node_t *bad = NULL, *dup = NULL;
    size_t k, dup_k = 0;

    for (pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++) {
        yaml_node_t *key = jd_rules_node(ld, pair->key);
        const char *name;
        if (jd_rules_scalar(ld, key, "key", &name) < 0)
            return -1;
        for (k = 0; k < K__COUNT && strcmp(name, jd_rule_keys[k].name); k++)
            ;
        if (k == K__COUNT && !bad)
            bad = key;
        else if (k < K__COUNT && keys[k] && !dup) {
            dup = key;
            dup_k = k;
        } else if (k < K__COUNT && !keys[k]) {
            keys[k] = key;
            vals[k] = jd_rules_node(ld, pair->value);
        }
    }
    if (vals[K_ID] && vals[K_ID]->type == YAML_SCALAR_NODE &&
        jd_rules_valid_id((const char *)vals[K_ID]->data.scalar.value))
        ld->ld_rule_id = (const char *)vals[K_ID]->data.scalar.value;
    if (bad) {
        char allowed[256] = "";
        for (k = 0; k < K__COUNT; k++) {
            size_t n = strlen(allowed);
            snprintf(allowed + n, sizeof allowed - n, "%s%s", k ? ", " : "",
                     jd_rule_keys[k].name);
        }
        return jd_rules_fail_at(ld, bad, "unknown key '%.64s' (allowed: %s)",
                                (const char *)bad->data.scalar.value, allowed);
    }
    if (dup)
        return jd_rules_fail_at(ld, dup, "duplicate key '%s' (first at line "
                                "%zu)", jd_rule_keys[dup_k].name,
                                keys[dup_k]->start_mark.line + 1);
    return 0;
}

/* Validates the id: format and uniqueness among the rules before it. */
static int jd_rules_load_id(jd_loader_t *ld, const yaml_node_t *node,
                            jd_rule_t *r)
{
    const char *id;

    if (jd_rules_scalar(ld, node, "id", &id) < 0)
        return -1;
    if (!jd_rules_valid_id(id))
        return jd_rules_fail_at(ld, node, "id '%.100s' must be 1 to %d "
                                "characters from a-z, 0-9, '_', '.' and '-'",
                                id, JD_RULES_ID_MAX);
    for (size_t i = 0; i + 1 < ld->ld_index; i++)
        if (!strcmp(ld->ld_rs->rs_rules[i].r_id, id))
            return jd_rules_fail_at(ld, node, "duplicate id '%s' (first "
                                    "defined at line %zu)", id,
                                    ld->ld_rs->rs_rules[i].r_line);
    r->r_line = node->start_mark.line + 1;
    r->r_col = node->start_mark.column + 1;
    r->r_id = strdup(id);
    return r->r_id ? 0 : jd_err_set(ld->ld_err, JD_ERR_FATAL, JD_E_NOMEM,
                                    "out of memory");
}

/* kind or severity: parsed by `parse`, allowed spellings from `name`. */
static int jd_rules_load_choice(jd_loader_t *ld, const yaml_node_t *node,
                                const char *key, int (*parse)(const char *),
                                const char *(*name)(int), int count, int *out)
{
    char allowed[128] = "";
    const char *s;

    if (jd_rules_scalar(ld, node, key, &s) < 0)
        return -1;
    if ((*out = parse(s)) >= 0)
        return 0;
    for (int i = 0; i < count; i++) {
        size_t n = strlen(allowed);
        snprintf(allowed + n, sizeof allowed - n, "%s%s",
                 i == 0 ? "" : i == count - 1 ? " or " : ", ", name(i));
    }
    return jd_rules_fail_at(ld, node, "unknown %s '%.64s' (expected %s)", key,
                            s, allowed);
}

static const char *jd_rules_kind_name(int k)
{
    return jd_kind_name((jd_kind_t)k);
}

/* Lower-case spelling of a severity, as written in the rules file. */
static const char *jd_rules_severity_name(int s)
{
    static const char *const names[JD_SEV__COUNT] = {
        [JD_SEV_LOW] = "low", [JD_SEV_MEDIUM] = "medium",
        [JD_SEV_HIGH] = "high", [JD_SEV_CRITICAL] = "critical",
    };
    return s >= 0 && s < JD_SEV__COUNT ? names[s] : "?";
}

/* play (required) and description (optional): free text, bounded. */
static int jd_rules_load_text(jd_loader_t *ld, const yaml_node_t *node,
                              const char *key, size_t max, char **out)
{
    const char *s;
    int bad;

    if (jd_rules_scalar(ld, node, key, &s) < 0)
        return -1;
    if (!(*out = jd_rules_text_dup(s, &bad)))
        return jd_err_set(ld->ld_err, JD_ERR_FATAL, JD_E_NOMEM,
                          "out of memory");
    if (bad)
        return jd_rules_fail_at(ld, node, "'%s' contains a control character",
                                key);
    if (strlen(*out) > max)
        return jd_rules_fail_at(ld, node, "'%s' is longer than %zu bytes", key,
                                max);
    return 0;
}

/* cooldown and for: a duration; *text (may be NULL) gets a copy. */
static int jd_rules_load_duration(jd_loader_t *ld, const yaml_node_t *node,
                                  const char *key, int64_t *ms, char **text)
{
    const char *s;

    *ms = 0;
    if (!node)
        return 0;
    if (jd_rules_scalar(ld, node, key, &s) < 0)
        return -1;
    if (jd_expr_parse_duration(s, ms) < 0)
        return jd_rules_fail_at(ld, node, "bad duration '%.64s' for '%s'"
                                " (expected a number with a unit d, h, m or s,"
                                " such as 14d, 12h, 30m, 10s; or 0)", s, key);
    if (text && !(*text = strdup(s)))
        return jd_err_set(ld->ld_err, JD_ERR_FATAL, JD_E_NOMEM,
                          "out of memory");
    return 0;
}

/* Checks that every required key is present and that no value is empty;
 * an empty optional value counts as absent. */
static int jd_rules_check_present(jd_loader_t *ld, const yaml_node_t *map,
                                  yaml_node_t **vals)
{
    for (int k = 0; k < K__COUNT; k++) {
        if (vals[k] && vals[k]->type == YAML_SCALAR_NODE &&
            vals[k]->data.scalar.length == 0) {
            if (!jd_rule_keys[k].required && k != K_PLAY) {
                vals[k] = NULL;
                continue;
            }
            return jd_rules_fail_at(ld, vals[k], "'%s' must not be empty",
                                    jd_rule_keys[k].name);
        }
        if (!vals[k] && jd_rule_keys[k].required)
            return jd_rules_fail_at(ld, map, "missing required key '%s'",
                                    jd_rule_keys[k].name);
    }
    return 0;
}

/* ---- optional rule keys ------------------------------------------------ */

static int jd_rules_nomem(const jd_loader_t *ld)
{
    return jd_err_set(ld->ld_err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
}

/* A list of names (or one name) of `key`, each [a-z0-9_.-]: copies into
 * *out[*cnt] and, when lines is not NULL, their positions. */
static int jd_rules_load_names(jd_loader_t *ld, const yaml_node_t *node,
                               const char *key, char ***out, size_t *cnt,
                               size_t **lines, size_t **cols)
{
    const yaml_node_item_t *it;
    size_t n = 1;

    if (node->type == YAML_MAPPING_NODE)
        return jd_rules_fail_at(ld, node, "'%s' must be a name or a list of "
                                "names", key);
    if (node->type == YAML_SEQUENCE_NODE)
        n = (size_t)(node->data.sequence.items.top -
                     node->data.sequence.items.start);
    if (n == 0 || n > JD_RULES_LIST_MAX)
        return jd_rules_fail_at(ld, node, "'%s' must list 1 to %d names", key,
                                JD_RULES_LIST_MAX);
    if (!(*out = calloc(n, sizeof **out)) ||
        (lines && (!(*lines = calloc(n, sizeof **lines)) ||
                   !(*cols = calloc(n, sizeof **cols)))))
        return jd_rules_nomem(ld);
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *el = node;
        const char *v;
        if (node->type == YAML_SEQUENCE_NODE) {
            it = node->data.sequence.items.start + i;
            el = jd_rules_node(ld, *it);
        }
        if (jd_rules_scalar(ld, el, key, &v) < 0)
            return -1;
        if (!jd_rules_valid_id(v))
            return jd_rules_fail_at(ld, el, "'%s' entry '%.64s' must be 1 to "
                                    "%d characters from a-z, 0-9, '_', '.' "
                                    "and '-'", key, v, JD_RULES_ID_MAX);
        if (!((*out)[i] = strdup(v)))
            return jd_rules_nomem(ld);
        (*cnt)++;
        if (lines) {
            (*lines)[i] = el->start_mark.line + 1;
            (*cols)[i] = el->start_mark.column + 1;
        }
    }
    return 0;
}

/* A scalar that must be one of two spellings: *out = 0 for `no`, 1 for
 * `yes`. */
static int jd_rules_load_flag(jd_loader_t *ld, const yaml_node_t *node,
                              const char *key, const char *no,
                              const char *yes, int *out)
{
    const char *s;

    if (jd_rules_scalar(ld, node, key, &s) < 0)
        return -1;
    if (!strcmp(s, no) || !strcmp(s, yes)) {
        *out = !strcmp(s, yes);
        return 0;
    }
    return jd_rules_fail_at(ld, node, "'%s' must be %s or %s, not '%.64s'",
                            key, no, yes, s);
}

static int jd_rules_load_priority(jd_loader_t *ld, const yaml_node_t *node,
                                  int32_t *out)
{
    const char *s;
    char *end;
    long v;

    if (jd_rules_scalar(ld, node, "priority", &s) < 0)
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < -1000000 || v > 1000000)
        return jd_rules_fail_at(ld, node, "'priority' must be a whole number "
                                "from -1000000 to 1000000, not '%.64s'", s);
    *out = (int32_t)v;
    return 0;
}

/* score: a mapping of part name -> numeric expression. */
static int jd_rules_load_score(jd_loader_t *ld, const yaml_node_t *node,
                               jd_rule_t *r)
{
    const yaml_node_pair_t *pair;
    size_t n;

    if (node->type != YAML_MAPPING_NODE)
        return jd_rules_fail_at(ld, node, "'score' must be a mapping of part "
                                "names to numeric expressions");
    n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    if (n == 0 || n > JD_RULES_LIST_MAX)
        return jd_rules_fail_at(ld, node, "'score' must have 1 to %d parts",
                                JD_RULES_LIST_MAX);
    if (!(r->r_parts = calloc(n, sizeof *r->r_parts)))
        return jd_rules_nomem(ld);
    for (pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = jd_rules_node(ld, pair->key);
        yaml_node_t *v = jd_rules_node(ld, pair->value);
        jd_rule_part_t *rp = &r->r_parts[r->r_part_cnt];
        const char *name, *text;
        if (jd_rules_scalar(ld, k, "score part", &name) < 0)
            return -1;
        if (!jd_rules_valid_id(name) || strlen(name) > 40)
            return jd_rules_fail_at(ld, k, "score part '%.64s' must be 1 to 40"
                                    " characters from a-z, 0-9, '_', '.' and "
                                    "'-'", name);
        for (size_t i = 0; i < r->r_part_cnt; i++)
            if (!strcmp(r->r_parts[i].rp_name, name))
                return jd_rules_fail_at(ld, k, "duplicate score part '%s'",
                                        name);
        if (!(rp->rp_name = strdup(name)))
            return jd_rules_nomem(ld);
        r->r_part_cnt++;
        if (jd_rules_scalar(ld, v, name, &text) < 0 ||
            jd_rules_compile(ld, v, text, name, JD_VAL_NUM, &rp->rp_expr) < 0)
            return -1;
    }
    return 0;
}

static int jd_rules_level_cmp(const void *a, const void *b)
{
    double x = ((const jd_rule_level_t *)a)->rl_min;
    double y = ((const jd_rule_level_t *)b)->rl_min;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* levels: a mapping of level name -> minimum score. */
static int jd_rules_load_levels(jd_loader_t *ld, const yaml_node_t *node,
                                jd_rule_t *r)
{
    const yaml_node_pair_t *pair;
    size_t n;

    if (node->type != YAML_MAPPING_NODE)
        return jd_rules_fail_at(ld, node, "'levels' must be a mapping of level"
                                " names to minimum scores");
    n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    if (n == 0 || n > JD_RULES_LIST_MAX)
        return jd_rules_fail_at(ld, node, "'levels' must have 1 to %d levels",
                                JD_RULES_LIST_MAX);
    if (!(r->r_levels = calloc(n, sizeof *r->r_levels)))
        return jd_rules_nomem(ld);
    for (pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = jd_rules_node(ld, pair->key);
        yaml_node_t *v = jd_rules_node(ld, pair->value);
        jd_rule_level_t *rl = &r->r_levels[r->r_level_cnt];
        const char *name, *num;
        char *end;
        if (jd_rules_scalar(ld, k, "level", &name) < 0)
            return -1;
        if (!jd_rules_valid_id(name) || strlen(name) > 40)
            return jd_rules_fail_at(ld, k, "level '%.64s' must be 1 to 40 "
                                    "characters from a-z, 0-9, '_', '.' and "
                                    "'-'", name);
        if (jd_rules_scalar(ld, v, name, &num) < 0)
            return -1;
        errno = 0;
        rl->rl_min = strtod(num, &end);
        if (!*num || *end || errno || !isfinite(rl->rl_min))
            return jd_rules_fail_at(ld, v, "level '%s' needs a minimum score "
                                    "(a number), not '%.64s'", name, num);
        if (!(rl->rl_name = strdup(name)))
            return jd_rules_nomem(ld);
        r->r_level_cnt++;
    }
    qsort(r->r_levels, r->r_level_cnt, sizeof *r->r_levels,
          jd_rules_level_cmp);
    return 0;
}

/* for, priority, segments, resolve, suppressed_by, mode, score, levels. */
static int jd_rules_load_options(jd_loader_t *ld, yaml_node_t **vals,
                                 jd_rule_t *r)
{
    if ((vals[K_PRIORITY] &&
         jd_rules_load_priority(ld, vals[K_PRIORITY], &r->r_priority) < 0) ||
        (vals[K_RESOLVE] &&
         jd_rules_load_flag(ld, vals[K_RESOLVE], "resolve", "false", "true",
                            &r->r_resolve) < 0) ||
        (vals[K_MODE] &&
         jd_rules_load_flag(ld, vals[K_MODE], "mode", "active", "shadow",
                            &r->r_shadow) < 0) ||
        (vals[K_SEGMENTS] &&
         jd_rules_load_names(ld, vals[K_SEGMENTS], "segments", &r->r_segments,
                             &r->r_segment_cnt, NULL, NULL) < 0) ||
        (vals[K_SUPPRESSED_BY] &&
         jd_rules_load_names(ld, vals[K_SUPPRESSED_BY], "suppressed_by",
                             &r->r_supp_names, &r->r_supp_cnt,
                             &r->r_supp_lines, &r->r_supp_cols) < 0) ||
        (vals[K_SCORE] && jd_rules_load_score(ld, vals[K_SCORE], r) < 0) ||
        (vals[K_LEVELS] && jd_rules_load_levels(ld, vals[K_LEVELS], r) < 0))
        return -1;
    if (r->r_level_cnt && !r->r_part_cnt)
        return jd_rules_fail_at(ld, vals[K_LEVELS], "'levels' needs a 'score'"
                                " to grade");
    return 0;
}

/* The normalised text of a rule: the original keys in their original form
 * (so versions of rules that use none of the later keys did not change),
 * then each later key only when it is set. */
static void jd_rules_version_text(const jd_rule_t *r, FILE *f)
{
    fprintf(f, "id=%s\nkind=%s\nwhen=%s\nseverity=%s\nplay=%s\n"
            "cooldown_ms=%" PRId64 "\ndescription=%s", r->r_id,
            jd_kind_name(r->r_kind), jd_expr_text(r->r_when),
            jd_rules_severity_name((int)r->r_severity),
            r->r_play ? r->r_play : "", r->r_cooldown_ms,
            r->r_description ? r->r_description : "");
    if (r->r_for_ms)
        fprintf(f, "\nfor_ms=%" PRId64, r->r_for_ms);
    if (r->r_priority)
        fprintf(f, "\npriority=%d", (int)r->r_priority);
    if (r->r_resolve)
        fprintf(f, "\nresolve=true");
    for (size_t i = 0; i < r->r_segment_cnt; i++)
        fprintf(f, "\nsegment=%s", r->r_segments[i]);
    for (size_t i = 0; i < r->r_supp_cnt; i++)
        fprintf(f, "\nsuppressed_by=%s", r->r_supp_names[i]);
    for (size_t i = 0; i < r->r_part_cnt; i++)
        fprintf(f, "\nscore.%s=%s", r->r_parts[i].rp_name,
                jd_expr_text(r->r_parts[i].rp_expr));
    for (size_t i = 0; i < r->r_level_cnt; i++)
        fprintf(f, "\nlevel.%s=%.17g", r->r_levels[i].rl_name,
                r->r_levels[i].rl_min);
}

static int jd_rules_version(jd_loader_t *ld, jd_rule_t *r)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);

    if (!f)
        return jd_rules_nomem(ld);
    jd_rules_version_text(r, f);
    if (fclose(f) != 0 || !buf) {
        free(buf);
        return jd_rules_nomem(ld);
    }
    snprintf(r->r_version, sizeof r->r_version, "%016" PRIx64,
             (uint64_t)XXH3_64bits(buf, n));
    free(buf);
    return 0;
}

/* One entry of the `rules` list, into r (which the caller frees, also on
 * error). */
static int jd_rules_load_rule(jd_loader_t *ld, const yaml_node_t *map,
                              jd_rule_t *r)
{
    yaml_node_t *keys[K__COUNT] = {0}, *vals[K__COUNT] = {0};
    const char *when;
    int kind, sev;

    if (map->type != YAML_MAPPING_NODE)
        return jd_rules_fail_at(ld, map, "expected a mapping with keys id, "
                                "kind, when, severity");
    if (jd_rules_collect(ld, map, keys, vals) < 0 ||
        jd_rules_check_present(ld, map, vals) < 0 ||
        jd_rules_load_id(ld, vals[K_ID], r) < 0 ||
        jd_rules_load_choice(ld, vals[K_KIND], "kind", jd_kind_parse,
                             jd_rules_kind_name, JD_KIND__COUNT, &kind) < 0 ||
        jd_rules_load_choice(ld, vals[K_SEVERITY], "severity",
                             jd_severity_parse, jd_rules_severity_name,
                             JD_SEV__COUNT, &sev) < 0 ||
        (vals[K_PLAY] &&
         jd_rules_load_text(ld, vals[K_PLAY], "play", JD_RULES_PLAY_MAX,
                            &r->r_play) < 0) ||
        (vals[K_DESCRIPTION] &&
         jd_rules_load_text(ld, vals[K_DESCRIPTION], "description",
                            JD_RULES_DESC_MAX, &r->r_description) < 0) ||
        jd_rules_load_duration(ld, vals[K_COOLDOWN], "cooldown",
                               &r->r_cooldown_ms, NULL) < 0 ||
        jd_rules_load_duration(ld, vals[K_FOR], "for", &r->r_for_ms,
                               &r->r_for_text) < 0 ||
        jd_rules_scalar(ld, vals[K_WHEN], "when", &when) < 0 ||
        jd_rules_compile(ld, vals[K_WHEN], when, "when", JD_VAL_BOOL,
                         &r->r_when) < 0 ||
        jd_rules_load_options(ld, vals, r) < 0)
        return -1;
    r->r_kind = (jd_kind_t)kind;
    r->r_severity = (jd_severity_t)sev;
    return jd_rules_version(ld, r);
}

/* ---- the file ---------------------------------------------------------- */

/* The top-level sections. */
typedef struct jd_sections {
    yaml_node_t *sc_rules, *sc_segments, *sc_default, *sc_plays;
} jd_sections_t;

/* Finds the sections in the root mapping: rules (required), segments,
 * default_segment, plays. */
static int jd_rules_find_sections(jd_loader_t *ld, const yaml_node_t *root,
                                  jd_sections_t *sc)
{
    static const char *const names[] = {"rules", "segments", "default_segment",
                                        "plays"};
    const yaml_node_pair_t *pair;
    const char *name;

    memset(sc, 0, sizeof *sc);
    if (root->type != YAML_MAPPING_NODE)
        return jd_rules_fail_at(ld, root, "expected a mapping with a 'rules' "
                                "list at the top level");
    for (pair = root->data.mapping.pairs.start;
         pair < root->data.mapping.pairs.top; pair++) {
        yaml_node_t *key = jd_rules_node(ld, pair->key), **slot = NULL;
        if (jd_rules_scalar(ld, key, "key", &name) < 0)
            return -1;
        for (int i = 0; i < 4; i++)
            if (!strcmp(name, names[i]))
                slot = i == 0 ? &sc->sc_rules : i == 1 ? &sc->sc_segments
                     : i == 2 ? &sc->sc_default : &sc->sc_plays;
        if (!slot)
            return jd_rules_fail_at(ld, key, "unknown top-level key '%.64s' "
                                    "(expected rules, segments, "
                                    "default_segment or plays)", name);
        if (*slot)
            return jd_rules_fail_at(ld, key, "duplicate key '%s'", name);
        *slot = jd_rules_node(ld, pair->value);
    }
    if (!sc->sc_rules)
        return jd_rules_fail_at(ld, root, "missing top-level key 'rules'");
    if (sc->sc_rules->type == YAML_SCALAR_NODE &&
        !sc->sc_rules->data.scalar.length)
        return jd_rules_fail_at(ld, sc->sc_rules, "the 'rules' list is empty");
    if (sc->sc_rules->type != YAML_SEQUENCE_NODE)
        return jd_rules_fail_at(ld, sc->sc_rules, "'rules' must be a list of "
                                "rules");
    return 0;
}

/* ---- segments (tiers) and plays ---------------------------------------- */

/* One tier: name -> list of segment values (free text, 1-255 bytes). */
static int jd_rules_load_tier(jd_loader_t *ld, const yaml_node_t *key,
                              const yaml_node_t *val, jd_tier_t *ti)
{
    const char *name;

    if (jd_rules_scalar(ld, key, "segment tier", &name) < 0)
        return -1;
    if (!jd_rules_valid_id(name))
        return jd_rules_fail_at(ld, key, "segment tier '%.64s' must be 1 to %d"
                                " characters from a-z, 0-9, '_', '.' and '-'",
                                name, JD_RULES_ID_MAX);
    for (const jd_tier_t *o = ld->ld_rs->rs_tiers; o < ti; o++)
        if (!strcmp(o->ti_name, name))
            return jd_rules_fail_at(ld, key, "duplicate segment tier '%s'",
                                    name);
    if (!(ti->ti_name = strdup(name)))
        return jd_rules_nomem(ld);
    if (val->type != YAML_SEQUENCE_NODE)
        return jd_rules_fail_at(ld, val, "segment tier '%s' must list the "
                                "segment values it groups", name);
    size_t n = (size_t)(val->data.sequence.items.top -
                        val->data.sequence.items.start);
    if (!(ti->ti_values = calloc(n ? n : 1, sizeof *ti->ti_values)))
        return jd_rules_nomem(ld);
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *el =
            jd_rules_node(ld, val->data.sequence.items.start[i]);
        const char *v;
        if (jd_rules_scalar(ld, el, "segment", &v) < 0)
            return -1;
        if (!*v || strlen(v) >= JD_SIG_STR_MAX)
            return jd_rules_fail_at(ld, el, "a segment value must be 1 to %d "
                                    "bytes", JD_SIG_STR_MAX - 1);
        if (!(ti->ti_values[i] = strdup(v)))
            return jd_rules_nomem(ld);
        ti->ti_value_cnt++;
    }
    return 0;
}

static int jd_rules_load_tiers(jd_loader_t *ld, const yaml_node_t *map)
{
    jd_ruleset_t *rs = ld->ld_rs;
    const yaml_node_pair_t *pair;
    size_t n;

    if (map->type != YAML_MAPPING_NODE)
        return jd_rules_fail_at(ld, map, "'segments' must map each segment "
                                "tier to the list of segment values it groups");
    n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (n > JD_RULES_LIST_MAX)
        return jd_rules_fail_at(ld, map, "too many segment tiers (limit %d)",
                                JD_RULES_LIST_MAX);
    if (!(rs->rs_tiers = calloc(n ? n : 1, sizeof *rs->rs_tiers)))
        return jd_rules_nomem(ld);
    for (pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++) {
        if (jd_rules_load_tier(ld, jd_rules_node(ld, pair->key),
                               jd_rules_node(ld, pair->value),
                               &rs->rs_tiers[rs->rs_tier_cnt++]) < 0)
            return -1;
    }
    return 0;
}

/* 1 when `name` is a tier of the file (or, without a segments section,
 * always: segment values are then used as they are). */
static int jd_rules_known_tier(const jd_ruleset_t *rs, const char *name)
{
    if (!rs->rs_tier_cnt)
        return 1;
    for (size_t i = 0; i < rs->rs_tier_cnt; i++) {
        if (!strcmp(rs->rs_tiers[i].ti_name, name))
            return 1;
        for (size_t j = 0; j < rs->rs_tiers[i].ti_value_cnt; j++)
            if (!strcmp(rs->rs_tiers[i].ti_values[j], name))
                return 1;
    }
    return 0;
}

static int jd_rules_unknown_tier(jd_loader_t *ld, size_t line, size_t col,
                                 const char *name)
{
    char list[256] = "";

    for (size_t i = 0; i < ld->ld_rs->rs_tier_cnt; i++) {
        size_t n = strlen(list);
        snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "",
                 ld->ld_rs->rs_tiers[i].ti_name);
    }
    return jd_rules_fail(ld, line, col, "unknown segment '%.64s' (the "
                         "segments section defines %s)", name, list);
}

enum { PK_KIND, PK_RULE, PK_SEGMENT, PK_PLAY, PK_OWNER, PK_CHANNEL, PK__COUNT };

/* One plays entry: {kind | rule, [segment], play, [owner], [channel]}. */
static int jd_rules_load_play(jd_loader_t *ld, const yaml_node_t *map,
                              jd_play_t *pl)
{
    static const char *const keys[PK__COUNT] = {"kind", "rule", "segment",
                                                "play", "owner", "channel"};
    yaml_node_t *v[PK__COUNT] = {0};
    int kind;

    if (map->type != YAML_MAPPING_NODE)
        return jd_rules_fail_at(ld, map, "a plays entry must be a mapping with"
                                " kind or rule, segment, play, owner, channel");
    pl->pl_line = map->start_mark.line + 1;
    pl->pl_col = map->start_mark.column + 1;
    for (const yaml_node_pair_t *pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = jd_rules_node(ld, pair->key);
        const char *name;
        int i;
        if (jd_rules_scalar(ld, k, "key", &name) < 0)
            return -1;
        for (i = 0; i < PK__COUNT && strcmp(name, keys[i]); i++)
            ;
        if (i == PK__COUNT)
            return jd_rules_fail_at(ld, k, "unknown key '%.64s' in a plays "
                                    "entry (allowed: kind, rule, segment, "
                                    "play, owner, channel)", name);
        if (v[i])
            return jd_rules_fail_at(ld, k, "duplicate key '%s'", name);
        v[i] = jd_rules_node(ld, pair->value);
    }
    if (!v[PK_KIND] == !v[PK_RULE])
        return jd_rules_fail_at(ld, map, "a plays entry needs exactly one of "
                                "'kind' and 'rule'");
    if (!v[PK_PLAY])
        return jd_rules_fail_at(ld, map, "a plays entry needs 'play'");
    if (v[PK_KIND]) {
        if (jd_rules_load_choice(ld, v[PK_KIND], "kind", jd_kind_parse,
                                 jd_rules_kind_name, JD_KIND__COUNT, &kind) < 0)
            return -1;
        pl->pl_has_kind = 1;
        pl->pl_kind = (jd_kind_t)kind;
    }
    if ((v[PK_RULE] && jd_rules_load_text(ld, v[PK_RULE], "rule",
                                          JD_RULES_ID_MAX, &pl->pl_rule) < 0) ||
        (v[PK_SEGMENT] && jd_rules_load_text(ld, v[PK_SEGMENT], "segment",
                                             JD_RULES_ID_MAX, &pl->pl_tier) < 0) ||
        jd_rules_load_text(ld, v[PK_PLAY], "play", JD_RULES_PLAY_MAX,
                           &pl->pl_play) < 0 ||
        (v[PK_OWNER] && jd_rules_load_text(ld, v[PK_OWNER], "owner",
                                           JD_RULES_PLAY_MAX, &pl->pl_owner) < 0) ||
        (v[PK_CHANNEL] && jd_rules_load_text(ld, v[PK_CHANNEL], "channel",
                                             JD_RULES_PLAY_MAX,
                                             &pl->pl_channel) < 0))
        return -1;
    if (pl->pl_tier && !jd_rules_known_tier(ld->ld_rs, pl->pl_tier))
        return jd_rules_unknown_tier(ld, v[PK_SEGMENT]->start_mark.line + 1,
                                     v[PK_SEGMENT]->start_mark.column + 1,
                                     pl->pl_tier);
    return 0;
}

static int jd_rules_load_plays(jd_loader_t *ld, const yaml_node_t *list)
{
    jd_ruleset_t *rs = ld->ld_rs;
    size_t n;

    if (list->type != YAML_SEQUENCE_NODE)
        return jd_rules_fail_at(ld, list, "'plays' must be a list of entries "
                                "{kind or rule, segment, play, owner, channel}");
    n = (size_t)(list->data.sequence.items.top -
                 list->data.sequence.items.start);
    if (n > JD_RULES_MAX)
        return jd_rules_fail_at(ld, list, "too many plays (limit %d)",
                                JD_RULES_MAX);
    if (!(rs->rs_plays = calloc(n ? n : 1, sizeof *rs->rs_plays)))
        return jd_rules_nomem(ld);
    for (size_t i = 0; i < n; i++)
        if (jd_rules_load_play(ld, jd_rules_node(ld,
                                   list->data.sequence.items.start[i]),
                               &rs->rs_plays[rs->rs_play_cnt++]) < 0)
            return -1;
    return 0;
}

/* ---- cross-references, once every rule is loaded ------------------------ */

static int jd_rules_link_suppressors(jd_loader_t *ld, jd_rule_t *r)
{
    const jd_ruleset_t *rs = ld->ld_rs;

    if (r->r_supp_cnt &&
        !(r->r_supp_rules = calloc(r->r_supp_cnt, sizeof *r->r_supp_rules)))
        return jd_rules_nomem(ld);
    for (size_t i = 0; i < r->r_supp_cnt; i++) {
        const char *name = r->r_supp_names[i];
        int kind = jd_kind_parse(name);
        size_t j;
        if (kind >= 0) {
            r->r_supp_kinds |= 1u << kind;
            continue;
        }
        for (j = 0; j < rs->rs_count && strcmp(rs->rs_rules[j].r_id, name); j++)
            ;
        if (j == rs->rs_count || &rs->rs_rules[j] == r)
            return jd_rules_fail(ld, r->r_supp_lines[i], r->r_supp_cols[i],
                                 j == rs->rs_count ?
                                 "'suppressed_by' names '%s', which is neither"
                                 " a kind (risk, renewal_readiness, expansion)"
                                 " nor the id of another rule" :
                                 "'suppressed_by' names the rule itself "
                                 "('%s')", name);
        r->r_supp_rules[r->r_supp_rule_cnt++] = j;
    }
    return 0;
}

/* Every rule needs a play for an account of any segment: its own `play`,
 * or a plays entry for its id or kind without a segment. */
static int jd_rules_check_play(jd_loader_t *ld, const jd_rule_t *r)
{
    if (r->r_play || jd__rules_play(ld->ld_rs, r, NULL))
        return 0;
    return jd_rules_fail(ld, r->r_line, r->r_col, "no play: give the rule a "
                         "'play', or add a plays entry for rule '%s' or kind "
                         "'%s' without a segment", r->r_id,
                         jd_kind_name(r->r_kind));
}

static int jd_rules_link(jd_loader_t *ld)
{
    jd_ruleset_t *rs = ld->ld_rs;

    for (size_t i = 0; i < rs->rs_play_cnt; i++) {
        const jd_play_t *pl = &rs->rs_plays[i];
        ld->ld_index = 0;
        ld->ld_rule_id = NULL;
        if (pl->pl_rule && !jd_rules_find(rs, pl->pl_rule))
            return jd_rules_fail(ld, pl->pl_line, pl->pl_col, "plays entry for "
                                 "unknown rule '%.100s'", pl->pl_rule);
    }
    for (size_t i = 0; i < rs->rs_count; i++) {
        jd_rule_t *r = &rs->rs_rules[i];
        ld->ld_index = i + 1;
        ld->ld_rule_id = r->r_id;
        if (jd_rules_link_suppressors(ld, r) < 0 ||
            jd_rules_check_play(ld, r) < 0)
            return -1;
        for (size_t k = 0; k < r->r_segment_cnt; k++)
            if (!jd_rules_known_tier(rs, r->r_segments[k]))
                return jd_rules_unknown_tier(ld, r->r_line, r->r_col,
                                             r->r_segments[k]);
    }
    return 0;
}

static int jd_rules_load_sections(jd_loader_t *ld, const jd_sections_t *sc)
{
    const char *def;

    if (sc->sc_segments && jd_rules_load_tiers(ld, sc->sc_segments) < 0)
        return -1;
    if (sc->sc_default) {
        if (jd_rules_scalar(ld, sc->sc_default, "default_segment", &def) < 0)
            return -1;
        if (!jd_rules_known_tier(ld->ld_rs, def))
            return jd_rules_unknown_tier(ld, sc->sc_default->start_mark.line + 1,
                                         sc->sc_default->start_mark.column + 1,
                                         def);
        if (!(ld->ld_rs->rs_default_tier = strdup(def)))
            return jd_rules_nomem(ld);
    }
    return sc->sc_plays ? jd_rules_load_plays(ld, sc->sc_plays) : 0;
}

static int jd_rules_load_doc(jd_loader_t *ld)
{
    yaml_node_t *root = yaml_document_get_root_node(ld->ld_doc), *list;
    const yaml_node_item_t *item;
    jd_sections_t sc;
    size_t n;

    if (!root)
        return jd_rules_fail(ld, 1, 1, "empty rules file (expected a "
                             "top-level 'rules' list)");
    if (jd_rules_find_sections(ld, root, &sc) < 0 ||
        jd_rules_load_sections(ld, &sc) < 0)
        return -1;
    list = sc.sc_rules;
    n = (size_t)(list->data.sequence.items.top -
                 list->data.sequence.items.start);
    if (n == 0)
        return jd_rules_fail_at(ld, list, "the 'rules' list is empty");
    if (n > JD_RULES_MAX)
        return jd_rules_fail_at(ld, list, "too many rules (%zu, limit %d)", n,
                                JD_RULES_MAX);
    if (!(ld->ld_rs->rs_rules = calloc(n, sizeof(jd_rule_t))))
        return jd_err_set(ld->ld_err, JD_ERR_FATAL, JD_E_NOMEM,
                          "out of memory");
    for (item = list->data.sequence.items.start;
         item < list->data.sequence.items.top; item++) {
        ld->ld_index = ld->ld_rs->rs_count + 1;
        ld->ld_rule_id = NULL;
        if (jd_rules_load_rule(ld, jd_rules_node(ld, *item),
                               &ld->ld_rs->rs_rules[ld->ld_rs->rs_count++]) < 0)
            return -1;
    }
    return jd_rules_link(ld);
}

/* Parses the first document, refuses a second one, then loads. */
static int jd_rules_parse(jd_loader_t *ld, yaml_parser_t *yp)
{
    yaml_document_t doc, next;
    yaml_node_t *extra;
    int rc;

    if (!yaml_parser_load(yp, &doc))
        return jd_rules_yaml_error(ld, yp);
    ld->ld_doc = &doc;
    if (yaml_document_get_root_node(&doc)) {
        if (!yaml_parser_load(yp, &next)) {
            yaml_document_delete(&doc);
            return jd_rules_yaml_error(ld, yp);
        }
        extra = yaml_document_get_root_node(&next);
        rc = extra ? jd_rules_fail_at(ld, extra, "only one YAML document is "
                                      "allowed in a rules file") : 0;
        yaml_document_delete(&next);
        if (rc < 0) {
            yaml_document_delete(&doc);
            return rc;
        }
    }
    rc = jd_rules_load_doc(ld);
    yaml_document_delete(&doc);
    return rc;
}

int jd_rules_load_buffer(const char *text, size_t len, const char *name,
                         jd_ruleset_t **out, jd_err_t *err)
{
    jd_loader_t ld = {0};
    yaml_parser_t yp;
    int rc;

    *out = NULL;
    ld.ld_name = name ? name : "<rules>";
    ld.ld_text = text;
    ld.ld_len = len;
    ld.ld_err = err;
    if (!(ld.ld_rs = calloc(1, sizeof *ld.ld_rs)) ||
        !yaml_parser_initialize(&yp)) {
        free(ld.ld_rs);
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    }
    yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
    rc = jd_rules_parse(&ld, &yp);
    yaml_parser_delete(&yp);
    if (rc != 0) { /* internal helpers return -1 after setting err */
        jd_rules_destroy(ld.ld_rs);
        return JD_ERR_FATAL;
    }
    *out = ld.ld_rs;
    return 0;
}

/* Reads the whole file (at most JD_RULES_FILE_MAX bytes) into *buf. */
static int jd_rules_read_file(const char *path, char **buf, size_t *len,
                              jd_err_t *err)
{
    FILE *f = fopen(path, "rb");
    char *b;
    size_t n;

    if (!f)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_IO, "cannot open rules "
                          "file '%s': %s", path, strerror(errno));
    b = malloc(JD_RULES_FILE_MAX + 1);
    n = b ? fread(b, 1, JD_RULES_FILE_MAX + 1, f) : 0;
    if (!b || ferror(f)) {
        int e = errno;
        fclose(f);
        free(b);
        return b ? jd_err_set(err, JD_ERR_FATAL, JD_E_IO, "cannot read rules "
                              "file '%s': %s", path, strerror(e))
                 : jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    }
    fclose(f);
    if (n > JD_RULES_FILE_MAX) {
        free(b);
        return jd_err_set(err, JD_ERR_FATAL, JD_E_RULES, "%s: rules file is "
                          "larger than %d bytes", path, JD_RULES_FILE_MAX);
    }
    *buf = b;
    *len = n;
    return 0;
}

int jd_rules_load_file(const char *path, jd_ruleset_t **out, jd_err_t *err)
{
    char *buf = NULL;
    size_t len = 0;
    int rc;

    *out = NULL;
    if ((rc = jd_rules_read_file(path, &buf, &len, err)) != 0)
        return rc;
    rc = jd_rules_load_buffer(buf, len, path, out, err);
    free(buf);
    return rc;
}

static void jd_rules_free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void jd_rules_free_rule(jd_rule_t *r)
{
    free(r->r_id);
    free(r->r_play);
    free(r->r_description);
    free(r->r_for_text);
    jd_rules_free_strs(r->r_segments, r->r_segment_cnt);
    jd_rules_free_strs(r->r_supp_names, r->r_supp_cnt);
    free(r->r_supp_lines);
    free(r->r_supp_cols);
    free(r->r_supp_rules);
    for (size_t i = 0; i < r->r_part_cnt; i++) {
        free(r->r_parts[i].rp_name);
        jd_expr_destroy(r->r_parts[i].rp_expr);
    }
    free(r->r_parts);
    for (size_t i = 0; i < r->r_level_cnt; i++)
        free(r->r_levels[i].rl_name);
    free(r->r_levels);
    jd_expr_destroy(r->r_when);
}

void jd_rules_destroy(jd_ruleset_t *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->rs_count; i++)
        jd_rules_free_rule(&rs->rs_rules[i]);
    free(rs->rs_rules);
    for (size_t i = 0; i < rs->rs_tier_cnt; i++) {
        free(rs->rs_tiers[i].ti_name);
        jd_rules_free_strs(rs->rs_tiers[i].ti_values,
                           rs->rs_tiers[i].ti_value_cnt);
    }
    free(rs->rs_tiers);
    for (size_t i = 0; i < rs->rs_play_cnt; i++) {
        free(rs->rs_plays[i].pl_rule);
        free(rs->rs_plays[i].pl_tier);
        free(rs->rs_plays[i].pl_play);
        free(rs->rs_plays[i].pl_owner);
        free(rs->rs_plays[i].pl_channel);
    }
    free(rs->rs_plays);
    free(rs->rs_default_tier);
    free(rs);
}

/* ---- accessors --------------------------------------------------------- */

size_t jd_rules_count(const jd_ruleset_t *rs)
{
    return rs->rs_count;
}

const jd_rule_t *jd_rules_at(const jd_ruleset_t *rs, size_t i)
{
    return i < rs->rs_count ? &rs->rs_rules[i] : NULL;
}

const jd_rule_t *jd_rules_find(const jd_ruleset_t *rs, const char *id)
{
    for (size_t i = 0; i < rs->rs_count; i++)
        if (!strcmp(rs->rs_rules[i].r_id, id))
            return &rs->rs_rules[i];
    return NULL;
}

const char *jd_rule_id(const jd_rule_t *r) { return r->r_id; }
jd_kind_t jd_rule_kind(const jd_rule_t *r) { return r->r_kind; }
jd_severity_t jd_rule_severity(const jd_rule_t *r) { return r->r_severity; }
const char *jd_rule_play(const jd_rule_t *r) { return r->r_play; }
int64_t jd_rule_cooldown_ms(const jd_rule_t *r) { return r->r_cooldown_ms; }
const char *jd_rule_when(const jd_rule_t *r) { return jd_expr_text(r->r_when); }
const char *jd_rule_version(const jd_rule_t *r) { return r->r_version; }
const char *jd_rule_description(const jd_rule_t *r) { return r->r_description; }

size_t jd_rule_signals(const jd_rule_t *r, const jd_signal_id_t **ids)
{
    return jd_expr_signals(r->r_when, ids);
}

int jd_rule_eval(const jd_rule_t *r, const jd_signals_t *sg)
{
    return jd_expr_truthy(jd_expr_eval(r->r_when, sg));
}

int64_t jd_rule_for_ms(const jd_rule_t *r) { return r->r_for_ms; }
int jd_rule_is_shadow(const jd_rule_t *r) { return r->r_shadow; }
int jd_rule_resolves(const jd_rule_t *r) { return r->r_resolve; }
int32_t jd_rule_priority(const jd_rule_t *r) { return r->r_priority; }

const char *jd__rules_tier(const jd_ruleset_t *rs, const char *segment)
{
    if (!segment)
        return rs->rs_default_tier;
    for (size_t i = 0; i < rs->rs_tier_cnt; i++)
        for (size_t j = 0; j < rs->rs_tiers[i].ti_value_cnt; j++)
            if (!strcmp(rs->rs_tiers[i].ti_values[j], segment))
                return rs->rs_tiers[i].ti_name;
    for (size_t i = 0; i < rs->rs_tier_cnt; i++)
        if (!strcmp(rs->rs_tiers[i].ti_name, segment))
            return rs->rs_tiers[i].ti_name;
    return rs->rs_default_tier ? rs->rs_default_tier : segment;
}

const jd_play_t *jd__rules_play(const jd_ruleset_t *rs, const jd_rule_t *r,
                                const char *tier)
{
    /* specificity: rule + tier (3), rule (2), kind + tier (1), kind (0) */
    const jd_play_t *best = NULL;
    int best_rank = -1;

    for (size_t i = 0; i < rs->rs_play_cnt; i++) {
        const jd_play_t *pl = &rs->rs_plays[i];
        int rank;
        if (pl->pl_rule ? strcmp(pl->pl_rule, r->r_id) != 0
                        : pl->pl_kind != r->r_kind)
            continue;
        if (pl->pl_tier && (!tier || strcmp(pl->pl_tier, tier) != 0))
            continue;
        rank = (pl->pl_rule ? 2 : 0) + (pl->pl_tier ? 1 : 0);
        if (rank > best_rank) {
            best = pl;
            best_rank = rank;
        }
    }
    return best;
}

