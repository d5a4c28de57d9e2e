/*
 * jd_metrics: a small Prometheus metrics registry - counters, gauges and
 * histograms with labels - and its text exposition format (version 0.0.4).
 *
 * A family is declared once (name, help, label names, histogram bounds);
 * each distinct tuple of label values is a series, created on first use.
 * Label values are passed as an array in the order of the declared names.
 * Series live until the registry is destroyed: label sets must have a
 * bounded cardinality (topic/partition, reason, kind, rule), never ids.
 *
 * Threads: every function may be called from any thread; one mutex per
 * registry guards families and series. Updates are a lock, a linear scan
 * of the family's series and an add - cheap at the few-dozen series per
 * family journeyd has; callers on the hot path batch their updates.
 *
 * Ownership: jd_metrics_new() returns a registry freed by
 * jd_metrics_destroy() (NULL accepted), which frees every family; family
 * pointers stay valid until then. Strings passed in are copied.
 */
#ifndef JD_METRICS_H
#define JD_METRICS_H

#include <stddef.h>
#include <stdio.h>

typedef struct jd_metrics jd_metrics_t;
typedef struct jd_metric jd_metric_t;

typedef enum jd_metric_type {
    JD_METRIC_COUNTER = 0,
    JD_METRIC_GAUGE,
    JD_METRIC_HISTOGRAM,
} jd_metric_type_t;

#define JD_METRIC_MAX_LABELS 4
#define JD_METRIC_MAX_BUCKETS 24

jd_metrics_t *jd_metrics_new(void);
void jd_metrics_destroy(jd_metrics_t *m);

/* Declares a family. `labels` is a comma-separated list of label names
 * ("topic,partition") or "" for none; `bounds` (histograms only) are the
 * upper bounds of the buckets, increasing, +Inf implied. Returns NULL when
 * out of memory or when the declaration is invalid (too many labels or
 * buckets, name declared twice). */
jd_metric_t *jd_metrics_declare(jd_metrics_t *m, jd_metric_type_t type, const char *name,
                                const char *help, const char *labels,
                                const double *bounds, size_t nbounds);

/* Counter: adds v (>= 0). Gauge: adds v (any sign). `values` holds one
 * value per declared label (NULL when there are none). A NULL family is a
 * no-op, so optional metrics need no checks at the call site. */
void jd_metric_add(jd_metric_t *f, const char *const *values, double v);

/* Gauge: sets the value. */
void jd_metric_set(jd_metric_t *f, const char *const *values, double v);

/* Histogram: records one observation. */
void jd_metric_observe(jd_metric_t *f, const char *const *values, double v);

/* Value of one series (counter/gauge) or its observation count
 * (histogram); 0 when the series does not exist. For tests and the
 * status line. */
double jd_metric_value(jd_metric_t *f, const char *const *values);

/* Sum of every series of the family (counter/gauge). */
double jd_metric_total(jd_metric_t *f);

/* Drops one series (absent: nothing happens). */
void jd_metric_remove(jd_metric_t *f, const char *const *values);

/* Drops every series of a family (a gauge whose label set is rebuilt
 * wholesale, e.g. lag of the currently assigned partitions). */
void jd_metric_reset(jd_metric_t *f);

/* Writes the exposition text of every family, in declaration order. */
void jd_metrics_render(jd_metrics_t *m, FILE *out);

#endif
