/*
 * jd_ops: metrics, readiness and the HTTP routes (contract in jd_ops.h).
 *
 * Design: every metric family is declared in jd_ops_declare() and nowhere
 * else, so the list of names the dashboard may use is in one place.
 * Values that are cheaper to compute when scraped than to keep current
 * (event-time lag = now - watermark; the Redis connection counters, kept
 * by state/jd_redis.c) are set in jd_ops_render() just before rendering.
 *
 * Readiness is probed, not remembered: an idle pipeline does not touch
 * Redis, so a flag set by the pipeline would stay "up" long after
 * redis-server stopped. /readyz therefore reads the result of jd_probe,
 * which authenticates and PINGs Redis on a thread and connection of its
 * own every second (timeouts of at most one second), so a request never
 * waits for Redis, dead or alive. The probe runs only while the HTTP
 * server does (http.port set): nothing else asks for readiness. Kafka
 * is judged from the latest librdkafka statistics (every
 * statistics.interval.ms): ready when at least one real broker (nodeid >=
 * 0) is in state UP.
 *
 * Dead letters are counted when Kafka has acknowledged them: a decode
 * error counts at once and adds to a pending count per reason, which
 * jd_ops_dead_letters_delivered() moves to the dead-letter counter after
 * the batch's deliveries are confirmed.
 */
#include "jd_ops.h"

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "jd_http.h"
#include "jd_log.h"
#include "jd_probe.h"
#include "jd_redis.h"

/* The consumer (librdkafka client name) whose statistics set a lag
 * series: with several pipeline threads each consumer reports its own
 * partitions, and a partition that one does not own may be another's. */
typedef struct jd_ops_lag_owner {
    char lo_key[160];    /* topic \x1f partition */
    char lo_client[64];
} jd_ops_lag_owner_t;

struct jd_ops {
    const jd_config_t *op_cf;
    jd_metrics_t      *op_reg;
    jd_metric_t       *op_consumed, *op_decode_err, *op_dlq, *op_triggers, *op_stage;
    jd_metric_t       *op_generic;
    jd_metric_t       *op_batches, *op_batch_size, *op_redis_lat, *op_lag;
    jd_metric_t       *op_watermark, *op_et_lag, *op_accounts, *op_redis_up;
    jd_metric_t       *op_kafka_up, *op_info, *op_stats_err;
    jd_metric_t       *op_redirects, *op_reloads, *op_reconnects, *op_refreshes;
    pthread_mutex_t    op_lock;        /* the fields below */
    uint64_t           op_pending[JD_E__COUNT];
    int64_t            op_watermark_ms;
    int                op_kafka_state; /* -1 unknown, 0 down, 1 up */
    jd_ops_lag_owner_t *op_lag_owner;  /* which consumer reported each lag series */
    size_t             op_nlag_owner;
    jd_probe_t        *op_probe;       /* NULL without the HTTP server */
    jd_http_t         *op_http;
    jd_http_route_t    op_routes[3];
};

/* Set before the pipeline and librdkafka threads start, cleared after
 * they stop; atomic because those threads read it. */
static jd_ops_t *_Atomic jd_ops_current;

static const double jd_ops_batch_bounds[] = {1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000};
static const double jd_ops_lat_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                           0.05,   0.1,   0.25,   0.5,   1,    2.5};

#define JD_NB(a) (sizeof a / sizeof a[0])

/* Every metric family: the one list of names the dashboard may use. A
 * family without labels can start with its one series at 0 (fa_zero), so
 * it shows before anything happened. */
typedef struct jd_ops_family {
    size_t           fa_offset;   /* of the jd_metric_t * in jd_ops_t */
    jd_metric_type_t fa_type;
    const char      *fa_name, *fa_labels, *fa_help;
    const double    *fa_bounds;
    size_t           fa_nbounds;
    int              fa_zero;
} jd_ops_family_t;

#define JD_FAM(f, t, n, l, h) {offsetof(jd_ops_t, f), JD_METRIC_##t, n, l, h, NULL, 0, 0}
#define JD_FAM0(f, t, n, h)   {offsetof(jd_ops_t, f), JD_METRIC_##t, n, "", h, NULL, 0, 1}
#define JD_HIST(f, n, l, h, b) {offsetof(jd_ops_t, f), JD_METRIC_HISTOGRAM, n, l, h, b, JD_NB(b), 0}
static const jd_ops_family_t jd_ops_families[] = {
    JD_FAM(op_info, GAUGE, "journeyd_build_info", "version",
           "Always 1; the version label says which journeyd runs."),
    JD_FAM(op_consumed, COUNTER, "journeyd_events_consumed_total", "topic,partition",
           "Messages consumed, per input topic and partition."),
    JD_FAM(op_decode_err, COUNTER, "journeyd_decode_errors_total", "reason",
           "Messages that did not decode, by reason."),
    JD_FAM0(op_generic, COUNTER, "journeyd_decoded_generic_total",
            "Messages decoded by avro-c's generic reader, not the decoder's fast path "
            "(writer shapes it leaves alone; slower, allocates per message)."),
    JD_FAM(op_dlq, COUNTER, "journeyd_dead_letters_total", "reason",
           "Dead-letter records acknowledged by Kafka, by reason."),
    JD_FAM(op_triggers, COUNTER, "journeyd_triggers_total", "kind,rule",
           "Triggers published and acknowledged, by kind and rule."),
    JD_FAM(op_stage, COUNTER, "journeyd_stage_changes_total", "stage",
           "Journey stage changes published, by new stage."),
    JD_FAM0(op_batches, COUNTER, "journeyd_batches_total",
            "Batches whose offsets were stored."),
    JD_HIST(op_batch_size, "journeyd_batch_size", "", "Messages per batch.",
            jd_ops_batch_bounds),
    JD_HIST(op_redis_lat, "journeyd_redis_latency_seconds", "op",
            "Redis round trips of a batch, by operation.", jd_ops_lat_bounds),
    JD_FAM(op_lag, GAUGE, "journeyd_kafka_consumer_lag", "topic,partition",
           "Messages behind the partition's high watermark (librdkafka statistics)."),
    JD_FAM(op_watermark, GAUGE, "journeyd_event_time_watermark_seconds", "",
           "Latest occurred_at of a decoded event (Unix seconds)."),
    JD_FAM(op_et_lag, GAUGE, "journeyd_event_time_lag_seconds", "",
           "Wall clock minus the event-time watermark."),
    JD_FAM0(op_accounts, GAUGE, "journeyd_accounts",
            "Accounts with journey state in Redis."),
    JD_FAM0(op_redis_up, GAUGE, "journeyd_redis_up",
            "1 when the last Redis operation or probe succeeded."),
    JD_FAM0(op_kafka_up, GAUGE, "journeyd_kafka_up",
            "1 when librdkafka's latest statistics show a broker up."),
    JD_FAM0(op_stats_err, COUNTER, "journeyd_kafka_stats_errors_total",
            "librdkafka statistics that did not parse."),
    JD_FAM(op_redirects, COUNTER, "journeyd_redis_redirections_total", "kind",
           "Redis Cluster redirections followed, by kind (moved, ask)."),
    JD_FAM0(op_reloads, COUNTER, "journeyd_redis_script_reloads_total",
            "Scripts loaded again on a node that answered NOSCRIPT."),
    JD_FAM0(op_reconnects, COUNTER, "journeyd_redis_reconnects_total",
            "Connections to Redis made again after one was lost."),
    JD_FAM0(op_refreshes, COUNTER, "journeyd_redis_slot_map_refreshes_total",
            "Redis Cluster slot maps read again after a MOVED."),
};

static int jd_ops_declare(jd_ops_t *o)
{
    for (size_t i = 0; i < JD_NB(jd_ops_families); i++) {
        const jd_ops_family_t *fa = &jd_ops_families[i];
        jd_metric_t **slot = (jd_metric_t **)(void *)((char *)o + fa->fa_offset);
        *slot = jd_metrics_declare(o->op_reg, fa->fa_type, fa->fa_name, fa->fa_help,
                                   fa->fa_labels, fa->fa_bounds, fa->fa_nbounds);
        if (!*slot)
            return -1;
        if (fa->fa_zero)
            jd_metric_add(*slot, NULL, 0);
    }
    return 0;
}

/* The Redis connection counters (state/jd_redis.h), read when scraped. */
static void jd_ops_redis_counts(jd_ops_t *o)
{
    const char *moved[] = {"moved"}, *ask[] = {"ask"};
    jd_metric_set(o->op_redirects, moved, (double)jd_redis_count(JD_REDIS_C_MOVED));
    jd_metric_set(o->op_redirects, ask, (double)jd_redis_count(JD_REDIS_C_ASK));
    jd_metric_set(o->op_reloads, NULL, (double)jd_redis_count(JD_REDIS_C_NOSCRIPT));
    jd_metric_set(o->op_reconnects, NULL, (double)jd_redis_count(JD_REDIS_C_RECONNECT));
    jd_metric_set(o->op_refreshes, NULL, (double)jd_redis_count(JD_REDIS_C_MAP_REFRESH));
}

/* ---- HTTP routes ------------------------------------------------------- */

static int jd_ops_route_metrics(void *opaque, FILE *out, const char **ctype)
{
    *ctype = "text/plain; version=0.0.4; charset=utf-8";
    return jd_ops_render(opaque, out);
}

static int jd_ops_route_healthz(void *opaque, FILE *out, const char **ctype)
{
    (void)opaque, (void)ctype;
    fputs("ok\n", out);
    return 200;
}

static int jd_ops_route_readyz(void *opaque, FILE *out, const char **ctype)
{
    char why[256];
    (void)ctype;
    if (jd_ops_ready(opaque, why, sizeof why)) {
        fputs("ready\n", out);
        return 200;
    }
    fprintf(out, "not ready: %s\n", why);
    return 503;
}

jd_ops_t *jd_ops_new(const jd_config_t *cf, jd_err_t *err)
{
    jd_ops_t *o = calloc(1, sizeof *o);
    if (!o || !(o->op_reg = jd_metrics_new()) || jd_ops_declare(o)) {
        jd_ops_destroy(o);
        jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory declaring metrics");
        return NULL;
    }
    pthread_mutex_init(&o->op_lock, NULL);
    o->op_cf = cf;
    o->op_kafka_state = -1;
    jd_metric_set(o->op_info, (const char *[]){JD_VERSION}, 1);
    o->op_routes[0] = (jd_http_route_t){"/metrics", jd_ops_route_metrics, o};
    o->op_routes[1] = (jd_http_route_t){"/healthz", jd_ops_route_healthz, o};
    o->op_routes[2] = (jd_http_route_t){"/readyz", jd_ops_route_readyz, o};
    if (cf->cf_http_port > 0 && (!(o->op_probe = jd_probe_new(cf, err)) ||
        !(o->op_http = jd_http_new(cf->cf_http_address, cf->cf_http_port, o->op_routes, 3, err)))) {
        jd_ops_destroy(o);
        return NULL;
    }
    return o;
}

void jd_ops_destroy(jd_ops_t *o)
{
    if (!o)
        return;
    if (jd_ops_current == o)
        jd_ops_current = NULL;
    jd_http_destroy(o->op_http);
    jd_probe_destroy(o->op_probe);
    if (o->op_reg)
        pthread_mutex_destroy(&o->op_lock);
    jd_metrics_destroy(o->op_reg);
    free(o->op_lag_owner);
    free(o);
}

void jd_ops_install(jd_ops_t *ops)
{
    jd_ops_current = ops;
}

jd_metrics_t *jd_ops_metrics(jd_ops_t *ops)
{
    return ops ? ops->op_reg : NULL;
}

int jd_ops_http_port(const jd_ops_t *ops)
{
    return ops && ops->op_http ? jd_http_port(ops->op_http) : 0;
}

static int64_t jd_ops_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int jd_ops_render(jd_ops_t *o, FILE *out)
{
    pthread_mutex_lock(&o->op_lock);
    int64_t wm = o->op_watermark_ms;
    pthread_mutex_unlock(&o->op_lock);
    if (wm) {
        jd_metric_set(o->op_watermark, NULL, (double)wm / 1000.0);
        jd_metric_set(o->op_et_lag, NULL, (double)(jd_ops_wall_ms() - wm) / 1000.0);
    }
    jd_ops_redis_counts(o);
    jd_metrics_render(o->op_reg, out);
    return 200;
}

/* ---- readiness --------------------------------------------------------- */

/* The probe's latest result (never waits for Redis). */
static int jd_ops_probe_redis(jd_ops_t *o, char *why, size_t cap)
{
    int ok = 0;
    if (!o->op_probe)
        snprintf(why, cap, "redis not probed (http.port is 0)");
    else
        ok = jd_probe_redis(o->op_probe, why, cap);
    jd_metric_set(o->op_redis_up, NULL, ok);
    return ok;
}

int jd_ops_ready(jd_ops_t *o, char *why, size_t cap)
{
    int kafka;
    if (!jd_ops_probe_redis(o, why, cap))
        return 0;
    pthread_mutex_lock(&o->op_lock);
    kafka = o->op_kafka_state;
    pthread_mutex_unlock(&o->op_lock);
    if (kafka != 1) {
        snprintf(why, cap, "%s", kafka < 0 ? "kafka state not known yet (no statistics)"
                                           : "kafka unreachable (no broker up)");
        return 0;
    }
    return 1;
}

/* ---- librdkafka statistics --------------------------------------------- */

/* 1 when a real broker (nodeid >= 0) is UP. */
static int jd_ops_stats_brokers(json_t *brokers)
{
    const char *name;
    json_t *b;
    json_object_foreach(brokers, name, b) {
        json_t *id = json_object_get(b, "nodeid"), *st = json_object_get(b, "state");
        if (json_integer_value(id) >= 0 && json_is_string(st) &&
            strcmp(json_string_value(st), "UP") == 0)
            return 1;
    }
    return 0;
}

/* The owner entry of a lag series (with `add`, created); op_lock held. */
static jd_ops_lag_owner_t *jd_ops_lag_owner(jd_ops_t *o, const char *key, int add)
{
    for (size_t i = 0; i < o->op_nlag_owner; i++)
        if (strcmp(o->op_lag_owner[i].lo_key, key) == 0)
            return &o->op_lag_owner[i];
    if (!add)
        return NULL;
    jd_ops_lag_owner_t *n = realloc(o->op_lag_owner, (o->op_nlag_owner + 1) * sizeof *n);
    if (!n)
        return NULL;
    o->op_lag_owner = n;
    n = &n[o->op_nlag_owner++];
    snprintf(n->lo_key, sizeof n->lo_key, "%s", key);
    n->lo_client[0] = '\0';
    return n;
}

/* One partition of `client`'s statistics: its lag when the client owns
 * it, else the series goes if this client had set it. */
static void jd_ops_stats_part(jd_ops_t *o, const char *client, const char *tname,
                              const char *pname, json_t *p)
{
    json_int_t lag = json_integer_value(json_object_get(p, "consumer_lag"));
    json_t *fs = json_object_get(p, "fetch_state");
    int owned = json_is_integer(json_object_get(p, "consumer_lag")) && lag >= 0 &&
                !(json_is_string(fs) && strcmp(json_string_value(fs), "none") == 0);
    const char *lv[] = {tname, pname};
    char key[160];
    snprintf(key, sizeof key, "%s\x1f%s", tname, pname);
    pthread_mutex_lock(&o->op_lock);
    jd_ops_lag_owner_t *ow = jd_ops_lag_owner(o, key, owned);
    if (owned) {
        if (ow)
            snprintf(ow->lo_client, sizeof ow->lo_client, "%s", client);
        jd_metric_set(o->op_lag, lv, (double)lag);
    } else if (ow && strcmp(ow->lo_client, client) == 0) {
        ow->lo_client[0] = '\0';
        jd_metric_remove(o->op_lag, lv);
    }
    pthread_mutex_unlock(&o->op_lock);
}

/* Lag of every partition `client` is assigned whose lag librdkafka knows. */
static void jd_ops_stats_lag(jd_ops_t *o, const char *client, json_t *topics)
{
    const char *tname, *pname;
    json_t *t, *p;
    json_object_foreach(topics, tname, t) {
        json_object_foreach(json_object_get(t, "partitions"), pname, p) {
            if (strcmp(pname, "-1") != 0)
                jd_ops_stats_part(o, client, tname, pname, p);
        }
    }
}

int jd_ops_stats(jd_ops_t *o, const char *json, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        jd_metric_add(o->op_stats_err, NULL, 1);
        return -1;
    }
    int up = jd_ops_stats_brokers(json_object_get(root, "brokers"));
    json_t *type = json_object_get(root, "type");
    if (json_is_string(type) && strcmp(json_string_value(type), "consumer") == 0)
        jd_ops_stats_lag(o, json_is_string(json_object_get(root, "name"))
                                ? json_string_value(json_object_get(root, "name")) : "",
                         json_object_get(root, "topics"));
    json_decref(root);
    pthread_mutex_lock(&o->op_lock);
    if (o->op_kafka_state != up)
        JD_LOG(up ? JD_LOG_INFO : JD_LOG_WARN, "ops", "kafka %s", up ? "up" : "down: no broker up");
    o->op_kafka_state = up;
    pthread_mutex_unlock(&o->op_lock);
    jd_metric_set(o->op_kafka_up, NULL, up);
    return 0;
}

static int jd_ops_stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk, (void)opaque;
    if (jd_ops_current)
        jd_ops_stats(jd_ops_current, json, len);
    return 0;
}

void jd_ops_kconf(rd_kafka_conf_t *conf, const jd_config_t *cf)
{
    char errstr[256];
    if (!jd_ops_current)
        return;
    rd_kafka_conf_set_stats_cb(conf, jd_ops_stats_cb);
    if (!jd_config_kafka(cf, "statistics.interval.ms"))
        rd_kafka_conf_set(conf, "statistics.interval.ms", "5000", errstr, sizeof errstr);
}

/* ---- hooks ------------------------------------------------------------- */

void jd_ops_consumed(const char *topic, int partition)
{
    char p[16];
    if (!jd_ops_current)
        return;
    snprintf(p, sizeof p, "%d", partition);
    const char *lv[] = {topic, p};
    jd_metric_add(jd_ops_current->op_consumed, lv, 1);
}

void jd_ops_decode_error(jd_err_code_t code)
{
    jd_ops_t *o = jd_ops_current;
    if (!o || code < 0 || code >= JD_E__COUNT)
        return;
    const char *lv[] = {jd_err_code_name(code)};
    jd_metric_add(o->op_decode_err, lv, 1);
    pthread_mutex_lock(&o->op_lock);
    o->op_pending[code]++;
    pthread_mutex_unlock(&o->op_lock);
}

void jd_ops_dead_letters_delivered(void)
{
    jd_ops_t *o = jd_ops_current;
    uint64_t n[JD_E__COUNT];
    if (!o)
        return;
    pthread_mutex_lock(&o->op_lock);
    memcpy(n, o->op_pending, sizeof n);
    memset(o->op_pending, 0, sizeof o->op_pending);
    pthread_mutex_unlock(&o->op_lock);
    for (int c = 0; c < JD_E__COUNT; c++) {
        const char *lv[] = {jd_err_code_name((jd_err_code_t)c)};
        if (n[c])
            jd_metric_add(o->op_dlq, lv, (double)n[c]);
    }
}

void jd_ops_trigger(const char *kind, const char *rule)
{
    const char *lv[] = {kind, rule};
    if (jd_ops_current)
        jd_metric_add(jd_ops_current->op_triggers, lv, 1);
}

void jd_ops_stage_event(const char *stage)
{
    const char *lv[] = {stage};
    if (jd_ops_current)
        jd_metric_add(jd_ops_current->op_stage, lv, 1);
}

void jd_ops_batch(size_t messages)
{
    if (!jd_ops_current)
        return;
    jd_metric_add(jd_ops_current->op_batches, NULL, 1);
    jd_metric_observe(jd_ops_current->op_batch_size, NULL, (double)messages);
}

void jd_ops_redis(const char *op, double seconds, int ok)
{
    const char *lv[] = {op};
    if (!jd_ops_current)
        return;
    if (ok)
        jd_metric_observe(jd_ops_current->op_redis_lat, lv, seconds);
    jd_metric_set(jd_ops_current->op_redis_up, NULL, ok);
}

void jd_ops_event_time(int64_t occurred_at_ms)
{
    jd_ops_t *o = jd_ops_current;
    if (!o)
        return;
    pthread_mutex_lock(&o->op_lock);
    if (occurred_at_ms > o->op_watermark_ms)
        o->op_watermark_ms = occurred_at_ms;
    pthread_mutex_unlock(&o->op_lock);
}

void jd_ops_decoded_generic(uint64_t n)
{
    jd_ops_t *o = jd_ops_current;
    if (o && n)
        jd_metric_add(o->op_generic, NULL, (double)n);
}

void jd_ops_accounts(int64_t n)
{
    if (jd_ops_current && n >= 0)
        jd_metric_set(jd_ops_current->op_accounts, NULL, (double)n);
}

