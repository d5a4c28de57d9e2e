/*
 * jd_metrics: Prometheus registry and text exposition (contract in
 * jd_metrics.h).
 *
 * Design: a registry is a list of families; a family is an array of series
 * kept in first-use order; a series is its label values joined with '\x1f'
 * (a byte no label value of ours contains) plus either one value or the
 * bucket counts, sum and count of a histogram. Buckets are stored
 * non-cumulative and summed while rendering, so an observation touches one
 * bucket. One mutex per registry: the pipeline thread writes, librdkafka's
 * statistics thread writes, the HTTP thread reads; contention is a few
 * lock acquisitions per batch.
 */
#include "jd_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct jd_series {
    char   *se_key;                             /* values joined by \x1f */
    double  se_value;                           /* counter, gauge */
    double  se_sum;                             /* histogram */
    double  se_count;
    double  se_buckets[JD_METRIC_MAX_BUCKETS + 1];
} jd_series_t;

struct jd_metric {
    jd_metrics_t     *mt_reg;
    jd_metric_type_t  mt_type;
    char             *mt_name;
    char             *mt_help;
    char             *mt_labels[JD_METRIC_MAX_LABELS];
    size_t            mt_nlabels;
    double            mt_bounds[JD_METRIC_MAX_BUCKETS];
    size_t            mt_nbounds;
    jd_series_t      *mt_series;
    size_t            mt_nseries, mt_cap;
    struct jd_metric *mt_next;
};

struct jd_metrics {
    pthread_mutex_t mr_lock;
    jd_metric_t    *mr_first, *mr_last;
};

jd_metrics_t *jd_metrics_new(void)
{
    jd_metrics_t *m = calloc(1, sizeof *m);
    if (m)
        pthread_mutex_init(&m->mr_lock, NULL);
    return m;
}

static void jd_metric_free(jd_metric_t *f)
{
    free(f->mt_name);
    free(f->mt_help);
    for (size_t i = 0; i < f->mt_nlabels; i++)
        free(f->mt_labels[i]);
    for (size_t i = 0; i < f->mt_nseries; i++)
        free(f->mt_series[i].se_key);
    free(f->mt_series);
    free(f);
}

void jd_metrics_destroy(jd_metrics_t *m)
{
    if (!m)
        return;
    for (jd_metric_t *f = m->mr_first, *n; f; f = n) {
        n = f->mt_next;
        jd_metric_free(f);
    }
    pthread_mutex_destroy(&m->mr_lock);
    free(m);
}

/* Splits "a,b" into the family's label names; -1 when too many. */
static int jd_metric_split_labels(jd_metric_t *f, const char *labels)
{
    const char *p = labels ? labels : "";
    while (*p) {
        size_t n = strcspn(p, ",");
        if (f->mt_nlabels == JD_METRIC_MAX_LABELS)
            return -1;
        if (!(f->mt_labels[f->mt_nlabels++] = strndup(p, n)))
            return -1;
        p += n + (p[n] == ',');
    }
    return 0;
}

jd_metric_t *jd_metrics_declare(jd_metrics_t *m, jd_metric_type_t type, const char *name,
                                const char *help, const char *labels,
                                const double *bounds, size_t nbounds)
{
    jd_metric_t *f;

    if (!m || nbounds > JD_METRIC_MAX_BUCKETS)
        return NULL;
    for (f = m->mr_first; f; f = f->mt_next)
        if (strcmp(f->mt_name, name) == 0)
            return NULL;
    if (!(f = calloc(1, sizeof *f)))
        return NULL;
    f->mt_reg = m;
    f->mt_type = type;
    f->mt_name = strdup(name);
    f->mt_help = strdup(help);
    if (!f->mt_name || !f->mt_help || jd_metric_split_labels(f, labels)) {
        jd_metric_free(f);
        return NULL;
    }
    for (size_t i = 0; i < nbounds; i++)
        f->mt_bounds[i] = bounds[i];
    f->mt_nbounds = type == JD_METRIC_HISTOGRAM ? nbounds : 0;
    pthread_mutex_lock(&m->mr_lock);
    if (m->mr_last)
        m->mr_last->mt_next = f;
    else
        m->mr_first = f;
    m->mr_last = f;
    pthread_mutex_unlock(&m->mr_lock);
    return f;
}

/* Finds (or, with `create`, adds) the series of `values`; lock held.
 * NULL when absent or out of memory. */
static jd_series_t *jd_metric_series(jd_metric_t *f, const char *const *values, int create)
{
    char key[512];
    size_t n = 0;

    key[0] = '\0';
    for (size_t i = 0; i < f->mt_nlabels && n < sizeof key; i++)
        n += (size_t)snprintf(key + n, sizeof key - n, "%s%s", i ? "\x1f" : "",
                              values && values[i] ? values[i] : "");
    for (size_t i = 0; i < f->mt_nseries; i++)
        if (strcmp(f->mt_series[i].se_key, key) == 0)
            return &f->mt_series[i];
    if (!create)
        return NULL;
    if (f->mt_nseries == f->mt_cap) {
        size_t cap = f->mt_cap ? 2 * f->mt_cap : 8;
        jd_series_t *ns = realloc(f->mt_series, cap * sizeof *ns);
        if (!ns)
            return NULL;
        f->mt_series = ns;
        f->mt_cap = cap;
    }
    jd_series_t *se = &f->mt_series[f->mt_nseries];
    memset(se, 0, sizeof *se);
    if (!(se->se_key = strdup(key)))
        return NULL;
    f->mt_nseries++;
    return se;
}

void jd_metric_add(jd_metric_t *f, const char *const *values, double v)
{
    jd_series_t *se;
    if (!f || (f->mt_type == JD_METRIC_COUNTER && v < 0))
        return;
    pthread_mutex_lock(&f->mt_reg->mr_lock);
    if ((se = jd_metric_series(f, values, 1)))
        se->se_value += v;
    pthread_mutex_unlock(&f->mt_reg->mr_lock);
}

void jd_metric_set(jd_metric_t *f, const char *const *values, double v)
{
    jd_series_t *se;
    if (!f)
        return;
    pthread_mutex_lock(&f->mt_reg->mr_lock);
    if ((se = jd_metric_series(f, values, 1)))
        se->se_value = v;
    pthread_mutex_unlock(&f->mt_reg->mr_lock);
}

void jd_metric_observe(jd_metric_t *f, const char *const *values, double v)
{
    jd_series_t *se;
    if (!f || f->mt_type != JD_METRIC_HISTOGRAM)
        return;
    pthread_mutex_lock(&f->mt_reg->mr_lock);
    if ((se = jd_metric_series(f, values, 1))) {
        size_t b = 0;
        while (b < f->mt_nbounds && v > f->mt_bounds[b])
            b++;
        se->se_buckets[b] += 1;
        se->se_sum += v;
        se->se_count += 1;
    }
    pthread_mutex_unlock(&f->mt_reg->mr_lock);
}

double jd_metric_value(jd_metric_t *f, const char *const *values)
{
    jd_series_t *se;
    double v = 0;
    if (!f)
        return 0;
    pthread_mutex_lock(&f->mt_reg->mr_lock);
    if ((se = jd_metric_series(f, values, 0)))
        v = f->mt_type == JD_METRIC_HISTOGRAM ? se->se_count : se->se_value;
    pthread_mutex_unlock(&f->mt_reg->mr_lock);
    return v;
}

double jd_metric_total(jd_metric_t *f)
{
    double v = 0;
    if (!f)
        return 0;
    pthread_mutex_lock(&f->mt_reg->mr_lock);
    for (size_t i = 0; i < f->mt_nseries; i++)
        v += f->mt_series[i].se_value;
    pthread_mutex_unlock(&f->mt_reg->mr_lock);
    return v;
}

void jd_metric_remove(jd_metric_t *f, const char *const *values)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mt_reg->mr_lock);
    jd_series_t *se = jd_metric_series(f, values, 0);
    if (se) {
        free(se->se_key);
        size_t i = (size_t)(se - f->mt_series);
        memmove(se, se + 1, (f->mt_nseries - i - 1) * sizeof *se);
        f->mt_nseries--;
    }
    pthread_mutex_unlock(&f->mt_reg->mr_lock);
}

void jd_metric_reset(jd_metric_t *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mt_reg->mr_lock);
    for (size_t i = 0; i < f->mt_nseries; i++)
        free(f->mt_series[i].se_key);
    f->mt_nseries = 0;
    pthread_mutex_unlock(&f->mt_reg->mr_lock);
}

/* ---- exposition -------------------------------------------------------- */

/* A label value with \, " and newline escaped, as the format requires. */
static void jd_metrics_put_value(FILE *out, const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '\\' || v[i] == '"')
            fputc('\\', out), fputc(v[i], out);
        else if (v[i] == '\n')
            fputs("\\n", out);
        else
            fputc(v[i], out);
    }
}

/* Writes `{a="x",b="y"` plus an optional extra label, and the closing
 * brace; nothing when there are no labels at all. */
static void jd_metrics_put_labels(FILE *out, const jd_metric_t *f, const jd_series_t *se,
                                  const char *extra)
{
    const char *p = se->se_key;
    if (!f->mt_nlabels && !extra)
        return;
    fputc('{', out);
    for (size_t i = 0; i < f->mt_nlabels; i++) {
        size_t n = strcspn(p, "\x1f");
        fprintf(out, "%s%s=\"", i ? "," : "", f->mt_labels[i]);
        jd_metrics_put_value(out, p, n);
        fputc('"', out);
        p += n + (p[n] != '\0');
    }
    if (extra)
        fprintf(out, "%s%s", f->mt_nlabels ? "," : "", extra);
    fputc('}', out);
}

static void jd_metrics_put_number(FILE *out, double v)
{
    if (isinf(v))
        fputs(v > 0 ? "+Inf" : "-Inf", out);
    else if (isnan(v))
        fputs("NaN", out);
    else
        fprintf(out, "%.15g", v);
}

static void jd_metrics_render_histogram(FILE *out, const jd_metric_t *f, const jd_series_t *se)
{
    char le[64];
    double cum = 0;
    for (size_t b = 0; b <= f->mt_nbounds; b++) {
        cum += se->se_buckets[b];
        if (b < f->mt_nbounds)
            snprintf(le, sizeof le, "le=\"%.15g\"", f->mt_bounds[b]);
        else
            snprintf(le, sizeof le, "le=\"+Inf\"");
        fprintf(out, "%s_bucket", f->mt_name);
        jd_metrics_put_labels(out, f, se, le);
        fprintf(out, " %.15g\n", cum);
    }
    fprintf(out, "%s_sum", f->mt_name);
    jd_metrics_put_labels(out, f, se, NULL);
    fputc(' ', out);
    jd_metrics_put_number(out, se->se_sum);
    fprintf(out, "\n%s_count", f->mt_name);
    jd_metrics_put_labels(out, f, se, NULL);
    fprintf(out, " %.15g\n", se->se_count);
}

void jd_metrics_render(jd_metrics_t *m, FILE *out)
{
    static const char *const tn[] = {"counter", "gauge", "histogram"};
    if (!m)
        return;
    pthread_mutex_lock(&m->mr_lock);
    for (const jd_metric_t *f = m->mr_first; f; f = f->mt_next) {
        fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", f->mt_name, f->mt_help, f->mt_name,
                tn[f->mt_type]);
        for (size_t i = 0; i < f->mt_nseries; i++) {
            const jd_series_t *se = &f->mt_series[i];
            if (f->mt_type == JD_METRIC_HISTOGRAM) {
                jd_metrics_render_histogram(out, f, se);
                continue;
            }
            fputs(f->mt_name, out);
            jd_metrics_put_labels(out, f, se, NULL);
            fputc(' ', out);
            jd_metrics_put_number(out, se->se_value);
            fputc('\n', out);
        }
    }
    pthread_mutex_unlock(&m->mr_lock);
}
