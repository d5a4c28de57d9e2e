/*
 * jd_fixture: runs fixture tables against a ruleset (format and contract in
 * jd_fixture.h).
 *
 * The file is read with libyaml's document API (every node keeps its
 * position, so errors read "FILE:LINE:COLUMN: message"). Each case starts
 * from fresh rule states and no signals; each step overlays its signals,
 * sets as_of from `at`, runs jd_rules_decide_ex() over the whole ruleset
 * and compares what the fixture's rule did with `expect`. Start-up tool
 * code: it allocates freely and runs on the calling thread.
 */
#include "jd_fixture.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "jd_window.h"

typedef struct jd_fx {
    const jd_ruleset_t  *fx_rs;
    const char          *fx_path;
    yaml_document_t     *fx_doc;
    FILE                *fx_out;
    jd_fixture_report_t *fx_rep;
    jd_err_t            *fx_err;
    size_t               fx_rule;     /* index of the rule under test */
    jd_rule_state_t     *fx_states;
    jd_trigger_t        *fx_trs;
    jd_signals_t         fx_sg;
    char                 fx_why[512]; /* first mismatch of the case */
} jd_fx_t;

static int jd_fx_fail(jd_fx_t *fx, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int jd_fx_fail(jd_fx_t *fx, const yaml_node_t *n, const char *fmt, ...)
{
    char what[JD_ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return jd_err_set(fx->fx_err, JD_ERR_FATAL, JD_E_RULES, "%s:%zu:%zu: %s",
                      fx->fx_path, n ? n->start_mark.line + 1 : 1,
                      n ? n->start_mark.column + 1 : 1, what);
}

static yaml_node_t *jd_fx_node(const jd_fx_t *fx, int i)
{
    return yaml_document_get_node(fx->fx_doc, i);
}

/* The value of `key` in mapping m, or NULL. */
static yaml_node_t *jd_fx_get(const jd_fx_t *fx, const yaml_node_t *m,
                              const char *key)
{
    if (!m || m->type != YAML_MAPPING_NODE)
        return NULL;
    for (const yaml_node_pair_t *p = m->data.mapping.pairs.start;
         p < m->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = jd_fx_node(fx, p->key);
        if (k->type == YAML_SCALAR_NODE &&
            !strcmp((const char *)k->data.scalar.value, key))
            return jd_fx_node(fx, p->value);
    }
    return NULL;
}

static const char *jd_fx_str(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
                                            : NULL;
}

/* One signal value: null, a number, an instant for timestamps, a string. */
static int jd_fx_set_signal(jd_fx_t *fx, const yaml_node_t *k,
                            const yaml_node_t *v)
{
    const char *name = jd_fx_str(k), *s = jd_fx_str(v);
    int id = name ? jd_signals_lookup(name, strlen(name)) : -1;
    yaml_scalar_style_t style;
    char *end;
    double d;
    int64_t ms;

    if (id < 0)
        return jd_fx_fail(fx, k, "unknown signal '%.64s'", name ? name : "?");
    if (!s)
        return jd_fx_fail(fx, v, "signal '%s' needs a single value", name);
    style = v->data.scalar.style;
    if (style == YAML_PLAIN_SCALAR_STYLE && (!strcmp(s, "null") || !*s)) {
        jd_signals_set_null(&fx->fx_sg, (jd_signal_id_t)id);
        return 0;
    }
    if (jd_signals_type((jd_signal_id_t)id) == JD_VAL_STR) {
        jd_signals_set_str(&fx->fx_sg, (jd_signal_id_t)id, s);
        return 0;
    }
    errno = 0;
    d = strtod(s, &end);
    if (*s && !*end && !errno && isfinite(d)) {
        jd_signals_set_num(&fx->fx_sg, (jd_signal_id_t)id, d);
        return 0;
    }
    if (jd_signals_is_timestamp((jd_signal_id_t)id) &&
        jd_window_parse_instant(s, &ms) == 0) {
        jd_signals_set_num(&fx->fx_sg, (jd_signal_id_t)id, (double)ms);
        return 0;
    }
    return jd_fx_fail(fx, v, "signal '%s' is a number%s, not '%.64s'", name,
                      jd_signals_is_timestamp((jd_signal_id_t)id) ?
                      " or an ISO date/timestamp" : "", s);
}

static int jd_fx_signals(jd_fx_t *fx, const yaml_node_t *step)
{
    const yaml_node_t *m = jd_fx_get(fx, step, "signals"), *at;
    int64_t ms;

    if (m && m->type != YAML_MAPPING_NODE)
        return jd_fx_fail(fx, m, "'signals' must map signal names to values");
    for (const yaml_node_pair_t *p = m ? m->data.mapping.pairs.start : NULL;
         m && p < m->data.mapping.pairs.top; p++)
        if (jd_fx_set_signal(fx, jd_fx_node(fx, p->key),
                             jd_fx_node(fx, p->value)))
            return -1;
    if ((at = jd_fx_get(fx, step, "at"))) {
        if (!jd_fx_str(at) || jd_window_parse_instant(jd_fx_str(at), &ms))
            return jd_fx_fail(fx, at, "'at' must be an ISO date or timestamp");
        jd_signals_set_num(&fx->fx_sg, JD_SIG_AS_OF, (double)ms);
    }
    return 0;
}

/* Records the first mismatch of a case. */
static void jd_fx_mismatch(jd_fx_t *fx, const yaml_node_t *n, const char *fmt,
                           ...) __attribute__((format(printf, 3, 4)));
static void jd_fx_mismatch(jd_fx_t *fx, const yaml_node_t *n, const char *fmt,
                           ...)
{
    va_list ap;
    int len;

    if (fx->fx_why[0])
        return;
    len = snprintf(fx->fx_why, sizeof fx->fx_why, "line %zu: ",
                   n->start_mark.line + 1);
    va_start(ap, fmt);
    vsnprintf(fx->fx_why + len, sizeof fx->fx_why - (size_t)len, fmt, ap);
    va_end(ap);
}

/* Optional checks of the trigger the step expected. */
static void jd_fx_check_trigger(jd_fx_t *fx, const yaml_node_t *step,
                                const jd_trigger_t *tr)
{
    static const char *const keys[] = {"play", "owner", "channel", "level"};
    const char *got[] = {tr->tr_play, tr->tr_owner, tr->tr_channel,
                         tr->tr_level};
    const yaml_node_t *n, *ev;

    for (size_t i = 0; i < 4; i++)
        if ((n = jd_fx_get(fx, step, keys[i])) && jd_fx_str(n) &&
            strcmp(jd_fx_str(n), got[i]))
            jd_fx_mismatch(fx, n, "%s is '%s', expected '%s'", keys[i], got[i],
                           jd_fx_str(n));
    if ((n = jd_fx_get(fx, step, "reason")) && jd_fx_str(n) &&
        !strstr(tr->tr_reason, jd_fx_str(n)))
        jd_fx_mismatch(fx, n, "reason '%s' does not contain '%s'",
                       tr->tr_reason, jd_fx_str(n));
    ev = jd_fx_get(fx, step, "evidence");
    for (const yaml_node_pair_t *p = ev && ev->type == YAML_MAPPING_NODE ?
             ev->data.mapping.pairs.start : NULL;
         p && p < ev->data.mapping.pairs.top; p++) {
        const char *name = jd_fx_str(jd_fx_node(fx, p->key));
        const char *want = jd_fx_str(jd_fx_node(fx, p->value));
        size_t i;
        for (i = 0; name && i < tr->tr_evidence_cnt &&
                    strcmp(tr->tr_evidence[i].evd_name, name); i++)
            ;
        if (!name || !want || i == tr->tr_evidence_cnt)
            jd_fx_mismatch(fx, ev, "no evidence '%s'", name ? name : "?");
        else if (fabs(tr->tr_evidence[i].evd_value - strtod(want, NULL)) >
                 1e-9 * (1 + fabs(strtod(want, NULL))))
            jd_fx_mismatch(fx, ev, "evidence %s is %.10g, expected %s", name,
                           tr->tr_evidence[i].evd_value, want);
    }
}

static int jd_fx_step(jd_fx_t *fx, const yaml_node_t *step)
{
    const yaml_node_t *ex = jd_fx_get(fx, step, "expect");
    const char *want = jd_fx_str(ex), *id;
    const jd_trigger_t *hit = NULL;
    size_t n, nr = jd_rules_count(fx->fx_rs);

    if (!want || (strcmp(want, "none") && strcmp(want, "fired") &&
                  strcmp(want, "resolved")))
        return jd_fx_fail(fx, ex ? ex : step, "each step needs 'expect: none',"
                          " 'expect: fired' or 'expect: resolved'");
    if (jd_fx_signals(fx, step))
        return -1;
    fx->fx_rep->fr_steps++;
    n = jd_rules_decide_ex(fx->fx_rs, "fixture", &fx->fx_sg, fx->fx_states,
                           NULL, NULL, fx->fx_trs, nr);
    id = jd_rule_id(jd_rules_at(fx->fx_rs, fx->fx_rule));
    for (size_t i = 0; i < n; i++)
        if (!strcmp(fx->fx_trs[i].tr_rule_id, id))
            hit = &fx->fx_trs[i];
    const char *got = !hit ? "none" : hit->tr_status == JD_STATUS_RESOLVED
                                          ? "resolved" : "fired";
    if (strcmp(got, want)) {
        jd_fx_mismatch(fx, ex, "expected %s, got %s%s%s", want, got,
                       hit ? ": " : "", hit ? hit->tr_reason : "");
        return 1;
    }
    if (hit)
        jd_fx_check_trigger(fx, step, hit);
    return fx->fx_why[0] ? 1 : 0;
}

static int jd_fx_case(jd_fx_t *fx, const yaml_node_t *c, size_t index)
{
    const yaml_node_t *steps = jd_fx_get(fx, c, "steps");
    const char *name = jd_fx_str(jd_fx_get(fx, c, "name"));
    size_t nsteps = 1, failed = 0;

    if (c->type != YAML_MAPPING_NODE)
        return jd_fx_fail(fx, c, "a case must be a mapping (name, steps)");
    if (steps && steps->type != YAML_SEQUENCE_NODE)
        return jd_fx_fail(fx, steps, "'steps' must be a list");
    if (steps)
        nsteps = (size_t)(steps->data.sequence.items.top -
                          steps->data.sequence.items.start);
    memset(fx->fx_states, 0, jd_rules_count(fx->fx_rs) * sizeof *fx->fx_states);
    jd_signals_clear(&fx->fx_sg);
    fx->fx_why[0] = '\0';
    for (size_t i = 0; i < nsteps; i++) {
        const yaml_node_t *st = steps ? jd_fx_node(fx,
                                   steps->data.sequence.items.start[i]) : c;
        int rc = jd_fx_step(fx, st);
        if (rc < 0)
            return -1;
        failed += rc > 0;
    }
    fx->fx_rep->fr_cases++;
    fx->fx_rep->fr_failed += failed;
    if (fx->fx_out)
        fprintf(fx->fx_out, "  %s %s: case %zu%s%s%s\n", failed ? "FAIL" : "ok  ",
                jd_rule_id(jd_rules_at(fx->fx_rs, fx->fx_rule)), index,
                name ? " (" : "", name ? name : "", name ? ")" : "");
    if (failed && fx->fx_out)
        fprintf(fx->fx_out, "       %s: %s\n", fx->fx_path, fx->fx_why);
    return 0;
}

static int jd_fx_doc(jd_fx_t *fx)
{
    const yaml_node_t *root = yaml_document_get_root_node(fx->fx_doc);
    const yaml_node_t *rule = jd_fx_get(fx, root, "rule");
    const yaml_node_t *cases = jd_fx_get(fx, root, "cases");
    const char *id = jd_fx_str(rule);
    size_t i, n = jd_rules_count(fx->fx_rs);

    if (!id || !cases || cases->type != YAML_SEQUENCE_NODE)
        return jd_fx_fail(fx, root, "a fixture file needs 'rule: ID' and a "
                          "'cases' list");
    for (i = 0; i < n && strcmp(jd_rule_id(jd_rules_at(fx->fx_rs, i)), id); i++)
        ;
    if (i == n)
        return jd_fx_fail(fx, rule, "no rule '%.100s' in the rules file", id);
    fx->fx_rule = i;
    if (fx->fx_rep->fr_tested)
        fx->fx_rep->fr_tested[i] = 1;
    if (cases->data.sequence.items.top == cases->data.sequence.items.start)
        return jd_fx_fail(fx, cases, "no cases");
    for (size_t c = 0; c < (size_t)(cases->data.sequence.items.top -
                                    cases->data.sequence.items.start); c++)
        if (jd_fx_case(fx, jd_fx_node(fx, cases->data.sequence.items.start[c]),
                       c + 1))
            return -1;
    return 0;
}

int jd_fixture_run_file(const jd_ruleset_t *rs, const char *path, FILE *out,
                        jd_fixture_report_t *rep, jd_err_t *err)
{
    size_t n = jd_rules_count(rs) ? jd_rules_count(rs) : 1;
    jd_fx_t *fx = calloc(1, sizeof *fx);
    jd_rule_state_t *states = calloc(n, sizeof *states);
    jd_trigger_t *trs = calloc(n, sizeof *trs);
    yaml_parser_t yp;
    yaml_document_t doc;
    FILE *f = fopen(path, "rb");
    int rc = JD_ERR_FATAL;

    if (!f) {
        rc = jd_err_set(err, JD_ERR_FATAL, JD_E_IO, "cannot open fixture "
                        "file '%s': %s", path, strerror(errno));
        goto done;
    }
    if (!fx || !states || !trs || !yaml_parser_initialize(&yp)) {
        rc = jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        goto done;
    }
    fx->fx_rs = rs;
    fx->fx_path = path;
    fx->fx_doc = &doc;
    fx->fx_out = out;
    fx->fx_rep = rep;
    fx->fx_err = err;
    fx->fx_states = states;
    fx->fx_trs = trs;
    yaml_parser_set_input_file(&yp, f);
    if (!yaml_parser_load(&yp, &doc)) {
        rc = jd_err_set(err, JD_ERR_FATAL, JD_E_RULES, "%s:%zu:%zu: invalid "
                        "YAML: %s", path, yp.problem_mark.line + 1,
                        yp.problem_mark.column + 1,
                        yp.problem ? yp.problem : "syntax error");
    } else {
        rep->fr_files++;
        rc = yaml_document_get_root_node(&doc) ? jd_fx_doc(fx)
             : jd_fx_fail(fx, NULL, "empty fixture file");
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&yp);
done:
    if (f)
        fclose(f);
    free(states);
    free(trs);
    free(fx);
    return rc ? JD_ERR_FATAL : 0;
}

static int jd_fx_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int jd_fixture_run_dir(const jd_ruleset_t *rs, const char *dir, FILE *out,
                       jd_fixture_report_t *rep, jd_err_t *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL, path[4096];
    size_t n = 0, cap = 0;
    int rc = 0;

    if (!d)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_IO, "cannot open fixture "
                          "directory '%s': %s", dir, strerror(errno));
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".yaml"))
            continue;
        if (n == cap) {
            char **nn = realloc(names, (cap = cap ? 2 * cap : 16) * sizeof *nn);
            if (!nn)
                break;
            names = nn;
        }
        if (!(names[n] = strdup(de->d_name)))
            break;
        n++;
    }
    closedir(d);
    if (!n)
        rc = jd_err_set(err, JD_ERR_FATAL, JD_E_IO, "no *.yaml fixture files "
                        "in '%s'", dir);
    qsort(names, n, sizeof *names, jd_fx_name_cmp);
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (!rc)
            rc = jd_fixture_run_file(rs, path, out, rep, err);
        free(names[i]);
    }
    free(names);
    return rc;
}
