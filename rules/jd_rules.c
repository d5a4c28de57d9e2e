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

#define JD_RULES_MAX          1000      /* rules per file */
#define JD_RULES_FILE_MAX     (1 << 20) /* bytes of a rules file */
#define JD_RULES_ID_MAX       100
#define JD_RULES_PLAY_MAX     200
#define JD_RULES_DESC_MAX     300

struct jd_rule {
    char          *r_id;
    jd_kind_t      r_kind;
    jd_severity_t  r_severity;
    char          *r_play;
    char          *r_description; /* NULL when absent */
    int64_t        r_cooldown_ms;
    jd_expr_t     *r_when;
    size_t         r_line;        /* line of the id, for duplicate errors */
    char           r_version[17];
};

struct jd_ruleset {
    jd_rule_t *rs_rules;
    size_t     rs_count;
};

enum { K_ID, K_KIND, K_WHEN, K_SEVERITY, K_PLAY, K_COOLDOWN, K_DESCRIPTION,
       K__COUNT };

static const struct { const char *name; int required; } jd_rule_keys[] = {
    [K_ID] = {"id", 1},             [K_KIND] = {"kind", 1},
    [K_WHEN] = {"when", 1},         [K_SEVERITY] = {"severity", 1},
    [K_PLAY] = {"play", 1},         [K_COOLDOWN] = {"cooldown", 0},
    [K_DESCRIPTION] = {"description", 0},
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
static int jd_rules_compile_when(const jd_loader_t *ld, const yaml_node_t *node,
                                 const char *text, jd_expr_t **out)
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
        return jd_rules_fail(ld, line, col, "%s (column %zu of 'when')",
                             jd_expr_err_what(&eerr), ecol);
    }
    if (jd_expr_type(*out) != JD_VAL_BOOL)
        return jd_rules_fail_at(ld, node, "'when' must be a condition (true/"
                                "false), but '%s' is %s", jd_expr_text(*out),
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
    if (bad)
        return jd_rules_fail_at(ld, bad, "unknown key '%.64s' (allowed: id, "
                                "kind, when, severity, play, cooldown, "
                                "description)",
                                (const char *)bad->data.scalar.value);
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

static int jd_rules_load_cooldown(jd_loader_t *ld, const yaml_node_t *node,
                                  int64_t *ms)
{
    const char *s;

    *ms = 0;
    if (!node)
        return 0;
    if (jd_rules_scalar(ld, node, "cooldown", &s) < 0)
        return -1;
    if (jd_expr_parse_duration(s, ms) < 0)
        return jd_rules_fail_at(ld, node, "bad duration '%.64s' for 'cooldown'"
                                " (expected a number with a unit d, h, m or s,"
                                " such as 14d, 12h, 30m, 10s; or 0)", s);
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
            if (!jd_rule_keys[k].required) {
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

static int jd_rules_version(jd_loader_t *ld, jd_rule_t *r)
{
    const char *fmt = "id=%s\nkind=%s\nwhen=%s\nseverity=%s\nplay=%s\n"
                      "cooldown_ms=%" PRId64 "\ndescription=%s";
    const char *kind = jd_kind_name(r->r_kind);
    const char *sev = jd_rules_severity_name((int)r->r_severity);
    const char *desc = r->r_description ? r->r_description : "";
    int n = snprintf(NULL, 0, fmt, r->r_id, kind, jd_expr_text(r->r_when), sev,
                     r->r_play, r->r_cooldown_ms, desc);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;

    if (!buf)
        return jd_err_set(ld->ld_err, JD_ERR_FATAL, JD_E_NOMEM,
                          "out of memory");
    snprintf(buf, (size_t)n + 1, fmt, r->r_id, kind, jd_expr_text(r->r_when),
             sev, r->r_play, r->r_cooldown_ms, desc);
    snprintf(r->r_version, sizeof r->r_version, "%016" PRIx64,
             (uint64_t)XXH3_64bits(buf, (size_t)n));
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
                                "kind, when, severity, play");
    if (jd_rules_collect(ld, map, keys, vals) < 0 ||
        jd_rules_check_present(ld, map, vals) < 0 ||
        jd_rules_load_id(ld, vals[K_ID], r) < 0 ||
        jd_rules_load_choice(ld, vals[K_KIND], "kind", jd_kind_parse,
                             jd_rules_kind_name, JD_KIND__COUNT, &kind) < 0 ||
        jd_rules_load_choice(ld, vals[K_SEVERITY], "severity",
                             jd_severity_parse, jd_rules_severity_name,
                             JD_SEV__COUNT, &sev) < 0 ||
        jd_rules_load_text(ld, vals[K_PLAY], "play", JD_RULES_PLAY_MAX,
                           &r->r_play) < 0 ||
        (vals[K_DESCRIPTION] &&
         jd_rules_load_text(ld, vals[K_DESCRIPTION], "description",
                            JD_RULES_DESC_MAX, &r->r_description) < 0) ||
        jd_rules_load_cooldown(ld, vals[K_COOLDOWN], &r->r_cooldown_ms) < 0 ||
        jd_rules_scalar(ld, vals[K_WHEN], "when", &when) < 0 ||
        jd_rules_compile_when(ld, vals[K_WHEN], when, &r->r_when) < 0)
        return -1;
    r->r_kind = (jd_kind_t)kind;
    r->r_severity = (jd_severity_t)sev;
    return jd_rules_version(ld, r);
}

/* ---- the file ---------------------------------------------------------- */

/* Finds the `rules` list in the root mapping (the only key allowed). */
static int jd_rules_find_list(jd_loader_t *ld, const yaml_node_t *root,
                              yaml_node_t **list)
{
    const yaml_node_pair_t *pair;
    const char *name;

    *list = NULL;
    if (root->type != YAML_MAPPING_NODE)
        return jd_rules_fail_at(ld, root, "expected a mapping with a 'rules' "
                                "list at the top level");
    for (pair = root->data.mapping.pairs.start;
         pair < root->data.mapping.pairs.top; pair++) {
        yaml_node_t *key = jd_rules_node(ld, pair->key);
        if (jd_rules_scalar(ld, key, "key", &name) < 0)
            return -1;
        if (strcmp(name, "rules") != 0)
            return jd_rules_fail_at(ld, key, "unknown top-level key '%.64s' "
                                    "(expected 'rules')", name);
        if (*list)
            return jd_rules_fail_at(ld, key, "duplicate key 'rules'");
        *list = jd_rules_node(ld, pair->value);
    }
    if (!*list)
        return jd_rules_fail_at(ld, root, "missing top-level key 'rules'");
    if ((*list)->type == YAML_SCALAR_NODE && !(*list)->data.scalar.length)
        return jd_rules_fail_at(ld, *list, "the 'rules' list is empty");
    if ((*list)->type != YAML_SEQUENCE_NODE)
        return jd_rules_fail_at(ld, *list, "'rules' must be a list of rules");
    return 0;
}

static int jd_rules_load_doc(jd_loader_t *ld)
{
    yaml_node_t *root = yaml_document_get_root_node(ld->ld_doc), *list;
    const yaml_node_item_t *item;
    size_t n;

    if (!root)
        return jd_rules_fail(ld, 1, 1, "empty rules file (expected a "
                             "top-level 'rules' list)");
    if (jd_rules_find_list(ld, root, &list) < 0)
        return -1;
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
    return 0;
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

void jd_rules_destroy(jd_ruleset_t *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->rs_count; i++) {
        free(rs->rs_rules[i].r_id);
        free(rs->rs_rules[i].r_play);
        free(rs->rs_rules[i].r_description);
        jd_expr_destroy(rs->rs_rules[i].r_when);
    }
    free(rs->rs_rules);
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

/* ---- triggers ---------------------------------------------------------- */

/* Length of s[0..len) without a trailing incomplete UTF-8 sequence (left
 * when a longer text was cut to fit a buffer). */
static size_t jd_rules_utf8_trim(const char *s, size_t len)
{
    size_t k = len, need;
    unsigned char lead;

    while (k > 0 && len - k < 4 && ((unsigned char)s[k - 1] & 0xC0) == 0x80)
        k--;
    if (k == 0)
        return len;
    lead = (unsigned char)s[k - 1];
    need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return len - (k - 1) < need ? k - 1 : len;
}

/* Copies src into dst[cap], cut (on a UTF-8 character boundary) to fit. */
static void jd_rules_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);

    if (n >= cap)
        n = jd_rules_utf8_trim(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Appends to buf[cap] at *len; output that does not fit is dropped and
 * *len stops at cap - 1 (the caller repairs a cut UTF-8 sequence). */
static void jd_rules_append(char *buf, size_t cap, size_t *len,
                            const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void jd_rules_append(char *buf, size_t cap, size_t *len,
                            const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*len >= cap - 1)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len = *len + (size_t)n >= cap ? cap - 1 : *len + (size_t)n;
}

/* "2026-03-04T00:00:00Z", with ".mmm" when the milliseconds are not 0. */
static void jd_rules_iso(char *buf, size_t cap, double ms)
{
    int64_t t = (int64_t)ms, msec = t % 1000, secs = t / 1000;
    time_t tt;
    struct tm tm;
    size_t n;

    if (msec < 0) {
        msec += 1000;
        secs--;
    }
    tt = (time_t)secs;
    if (!gmtime_r(&tt, &tm) ||
        !(n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm))) {
        snprintf(buf, cap, "%.0f", ms);
        return;
    }
    if (msec)
        snprintf(buf + n, cap - n, ".%03dZ", (int)msec);
    else
        snprintf(buf + n, cap - n, "Z");
}

/* A signal value as shown in a reason: 41, 0.12, "smb", null, or an ISO
 * time for timestamps. */
static void jd_rules_fmt_value(char *buf, size_t cap, jd_signal_id_t id,
                               const jd_value_t *v)
{
    if (v->type == JD_VAL_STR)
        snprintf(buf, cap, "\"%.100s\"", v->str);
    else if (v->type != JD_VAL_NUM)
        snprintf(buf, cap, "null");
    else if (jd_signals_is_timestamp(id) && fabs(v->num) < 1e15)
        jd_rules_iso(buf, cap, v->num);
    else if (v->num == floor(v->num) && fabs(v->num) < 1e15)
        snprintf(buf, cap, "%.0f", v->num);
    else
        snprintf(buf, cap, "%.6g", v->num);
}

/* "[description. ]ID: WHEN held at AS_OF (sig=value, ...)": every signal
 * the rule reads except as_of (already shown as the time). */
static void jd_rules_reason(const jd_rule_t *r, const jd_signals_t *sg,
                            double as_of, char *buf, size_t cap)
{
    const jd_signal_id_t *ids;
    size_t cnt = jd_expr_signals(r->r_when, &ids), len = 0, shown = 0;
    char val[128];

    if (r->r_description) {
        size_t dn = strlen(r->r_description);
        int stop = dn && strchr(".!?", r->r_description[dn - 1]);
        jd_rules_append(buf, cap, &len, "%s%s ", r->r_description,
                        stop ? "" : ".");
    }
    jd_rules_iso(val, sizeof val, as_of);
    jd_rules_append(buf, cap, &len, "%s: %s held at %s", r->r_id,
                    jd_expr_text(r->r_when), val);
    for (size_t i = 0; i < cnt; i++) {
        if (ids[i] == JD_SIG_AS_OF)
            continue;
        jd_rules_fmt_value(val, sizeof val, ids[i], jd_signals_get(sg, ids[i]));
        jd_rules_append(buf, cap, &len, "%s%s=%s", shown++ ? ", " : " (",
                        jd_signals_name(ids[i]), val);
    }
    if (shown)
        jd_rules_append(buf, cap, &len, ")");
    buf[jd_rules_utf8_trim(buf, len)] = '\0';
}

/* Every numeric, non-null signal the rule reads, by value. */
static void jd_rules_evidence(const jd_rule_t *r, const jd_signals_t *sg,
                              jd_trigger_t *tr)
{
    const jd_signal_id_t *ids;
    size_t cnt = jd_expr_signals(r->r_when, &ids);

    for (size_t i = 0; i < cnt && tr->tr_evidence_cnt < JD_EVIDENCE_MAX; i++) {
        const jd_value_t *v = jd_signals_get(sg, ids[i]);
        jd_evidence_t *ev = &tr->tr_evidence[tr->tr_evidence_cnt];
        if (v->type != JD_VAL_NUM)
            continue;
        jd_rules_copy(ev->evd_name, sizeof ev->evd_name,
                      jd_signals_name(ids[i]));
        ev->evd_value = v->num;
        tr->tr_evidence_cnt++;
    }
}

static void jd_rules_fill(const jd_rule_t *r, const char *account,
                          const jd_signals_t *sg, double as_of,
                          uint64_t episode, jd_trigger_t *tr)
{
    const jd_value_t *seg = jd_signals_get(sg, JD_SIG_SEGMENT);

    memset(tr, 0, sizeof *tr);
    jd_trigger_make_id(tr->tr_id, account, r->r_id, episode);
    jd_rules_copy(tr->tr_account, sizeof tr->tr_account, account);
    tr->tr_kind = r->r_kind;
    jd_rules_copy(tr->tr_rule_id, sizeof tr->tr_rule_id, r->r_id);
    jd_rules_copy(tr->tr_rule_version, sizeof tr->tr_rule_version,
                  r->r_version);
    tr->tr_severity = r->r_severity;
    jd_rules_copy(tr->tr_play, sizeof tr->tr_play, r->r_play);
    if (seg->type == JD_VAL_STR && seg->str) {
        jd_rules_copy(tr->tr_segment, sizeof tr->tr_segment, seg->str);
        tr->tr_has_segment = 1;
    }
    tr->tr_fired_at = (int64_t)as_of;
    jd_rules_evidence(r, sg, tr);
    jd_rules_reason(r, sg, as_of, tr->tr_reason, sizeof tr->tr_reason);
}

size_t jd_rules_decide(const jd_ruleset_t *rs, const char *account,
                       const jd_signals_t *sg, jd_rule_state_t *states,
                       unsigned char *changed, jd_trigger_t *out,
                       size_t max_out)
{
    const jd_value_t *as_of = jd_signals_get(sg, JD_SIG_AS_OF);
    size_t fired = 0;

    if (changed)
        memset(changed, 0, rs->rs_count);
    if (as_of->type != JD_VAL_NUM || !(fabs(as_of->num) < 9e18))
        return 0; /* no event time: nothing can be decided */
    for (size_t i = 0; i < rs->rs_count; i++) {
        const jd_rule_t *r = &rs->rs_rules[i];
        jd_rule_state_t st = states[i];
        jd_decision_t d = jd_decide(jd_rule_eval(r, sg), (int64_t)as_of->num,
                                    r->r_cooldown_ms, &st);
        if (d == JD_DECIDE_NONE)
            continue;
        if (d == JD_DECIDE_FIRE) {
            if (!out || fired == max_out)
                continue; /* no room: leave the state, fire next time */
            jd_rules_fill(r, account ? account : "", sg, as_of->num,
                          st.rs_episode, &out[fired++]);
        }
        states[i] = st;
        if (changed)
            changed[i] = 1;
    }
    return fired;
}
