/*
 * jd_bench_util: clocks, resource accounting, one-line JSON, quantiles,
 * Redis INFO snapshots and the MONITOR counter (contract in jd_bench.h).
 *
 * Redis cost is read two ways because Redis 7 counts differently from what
 * the target means. INFO commandstats counts every command, including the
 * ones a Lua script runs (each SET inside store.lua is a call), so it
 * answers "how much work did Redis do". The target ("commands per event")
 * is about what the client sends: round trips and commands on the wire.
 * Redis 7.0 has no per-client command counter, so the MONITOR stream is
 * read on a dedicated connection: script commands are tagged "[db lua]",
 * client commands carry the client's address. MONITOR slows Redis down, so
 * it is used only in a separate, untimed run.
 *
 * Threads: the MONITOR reader is one thread with its own connection; every
 * other helper runs on the caller's thread.
 */
#include "jd_bench.h"

#include <ctype.h>
#include <stdarg.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "jd_decoder_conf.h"

/* ---- clocks and resources ---------------------------------------------- */

double jd_bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t jd_bench_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double jd_bench_cpu_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

double jd_bench_peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* Fields 14 and 15 of /proc/PID/stat (utime, stime) in clock ticks. The
 * command name (field 2) may contain spaces, so parsing starts after ')'. */
double jd_bench_cpu_pid(int pid)
{
    char path[64], buf[1024];
    unsigned long long ut = 0, st = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                     &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

void jd_bench_sleep(double s)
{
    struct timespec ts;
    if (s <= 0)
        return;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
}

/* ---- one-line JSON ------------------------------------------------------- */

static void jd_bench_json_put(jd_bench_json_t *js, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void jd_bench_json_put(jd_bench_json_t *js, const char *fmt, ...)
{
    va_list ap;
    size_t cap = sizeof js->js_buf;
    if (js->js_len >= cap - 1)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(js->js_buf + js->js_len, cap - js->js_len, fmt, ap);
    va_end(ap);
    if (n > 0)
        js->js_len = js->js_len + (size_t)n < cap ? js->js_len + (size_t)n : cap - 1;
}

static void jd_bench_json_key(jd_bench_json_t *js, const char *key)
{
    jd_bench_json_put(js, "%s\"%s\":", js->js_first ? "" : ",", key);
    js->js_first = 0;
}

static void jd_bench_json_quote(jd_bench_json_t *js, const char *s)
{
    jd_bench_json_put(js, "\"");
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            jd_bench_json_put(js, "\\%c", c);
        else if (c < 0x20)
            jd_bench_json_put(js, "\\u%04x", c);
        else
            jd_bench_json_put(js, "%c", c);
    }
    jd_bench_json_put(js, "\"");
}

void jd_bench_json_begin(jd_bench_json_t *js, const char *mode, const char *label)
{
    js->js_len = 0;
    js->js_first = 1;
    jd_bench_json_put(js, "{");
    jd_bench_json_str(js, "mode", mode);
    jd_bench_json_str(js, "label", label ? label : "");
}

void jd_bench_json_num(jd_bench_json_t *js, const char *key, double v)
{
    jd_bench_json_key(js, key);
    if (isfinite(v))
        jd_bench_json_put(js, "%.16g", v);
    else
        jd_bench_json_put(js, "null");
}

void jd_bench_json_int(jd_bench_json_t *js, const char *key, long long v)
{
    jd_bench_json_key(js, key);
    jd_bench_json_put(js, "%lld", v);
}

void jd_bench_json_str(jd_bench_json_t *js, const char *key, const char *v)
{
    jd_bench_json_key(js, key);
    jd_bench_json_quote(js, v);
}

void jd_bench_json_raw(jd_bench_json_t *js, const char *key, const char *raw)
{
    jd_bench_json_key(js, key);
    jd_bench_json_put(js, "%s", raw && *raw ? raw : "null");
}

void jd_bench_json_end(jd_bench_json_t *js)
{
    jd_bench_json_put(js, "}");
    printf("%s\n", js->js_buf);
    fflush(stdout);
}

/* ---- percentiles --------------------------------------------------------- */

static int jd_bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double jd_bench_quantile(double *v, size_t n, double q)
{
    if (!n)
        return NAN;
    qsort(v, n, sizeof *v, jd_bench_cmp_double);
    size_t rank = (size_t)ceil(q * (double)n);
    return v[rank ? rank - 1 : 0];
}

/* ---- Redis counters ------------------------------------------------------ */

redisContext *jd_bench_redis_connect(const jd_config_t *cf)
{
    struct timeval tv = {5, 0};
    redisContext *rc = cf->cf_redis_socket[0]
                           ? redisConnectUnixWithTimeout(cf->cf_redis_socket, tv)
                           : redisConnectWithTimeout(cf->cf_redis_host, cf->cf_redis_port, tv);
    if (!rc || rc->err) {
        fprintf(stderr, "bench: redis: %s\n", rc ? rc->errstr : "out of memory");
        redisFree(rc);
        return NULL;
    }
    return rc;
}

/* One "cmdstat_NAME:calls=N,usec=N,..." line. */
static void jd_bench_rstat_line(jd_bench_rstat_t *rs, const char *line)
{
    char name[48];
    unsigned long long calls, usec;
    if (rs->rs_n == JD_BENCH_MAX_CMDS ||
        sscanf(line, "cmdstat_%47[^:]:calls=%llu,usec=%llu", name, &calls, &usec) != 3)
        return;
    snprintf(rs->rs_name[rs->rs_n], sizeof rs->rs_name[0], "%s", name);
    rs->rs_calls[rs->rs_n] = calls;
    rs->rs_usec[rs->rs_n++] = usec;
}

int jd_bench_rstat_take(redisContext *rc, jd_bench_rstat_t *rs)
{
    redisReply *r = redisCommand(rc, "INFO everything");
    double u = 0, s = 0;
    if (!r || r->type != REDIS_REPLY_STRING) {
        fprintf(stderr, "bench: redis INFO failed\n");
        if (r)
            freeReplyObject(r);
        return -1;
    }
    memset(rs, 0, sizeof *rs);
    for (char *save, *l = strtok_r(r->str, "\r\n", &save); l; l = strtok_r(NULL, "\r\n", &save)) {
        unsigned long long v;
        if (strncmp(l, "cmdstat_", 8) == 0)
            jd_bench_rstat_line(rs, l);
        else if (sscanf(l, "used_cpu_user:%lf", &u) == 1 || sscanf(l, "used_cpu_sys:%lf", &s) == 1)
            ;
        else if (sscanf(l, "total_commands_processed:%llu", &v) == 1)
            rs->rs_total_cmds = v;
        else if (sscanf(l, "used_memory:%llu", &v) == 1)
            rs->rs_mem_mib = (double)v / 1048576.0;
    }
    rs->rs_cpu = u + s;
    freeReplyObject(r);
    return 0;
}

static int jd_bench_rstat_find(const jd_bench_rstat_t *rs, const char *name)
{
    for (size_t i = 0; i < rs->rs_n; i++)
        if (strcmp(rs->rs_name[i], name) == 0)
            return (int)i;
    return -1;
}

uint64_t jd_bench_rstat_calls(const jd_bench_rstat_t *a, const jd_bench_rstat_t *b,
                              const char *name)
{
    int i = jd_bench_rstat_find(a, name), j = jd_bench_rstat_find(b, name);
    uint64_t before = i < 0 ? 0 : a->rs_calls[i];
    return j < 0 ? 0 : b->rs_calls[j] - before;
}

uint64_t jd_bench_rstat_all_calls(const jd_bench_rstat_t *a, const jd_bench_rstat_t *b)
{
    uint64_t n = 0;
    for (size_t j = 0; j < b->rs_n; j++)
        n += jd_bench_rstat_calls(a, b, b->rs_name[j]);
    return n;
}

void jd_bench_rstat_json(const jd_bench_rstat_t *a, const jd_bench_rstat_t *b,
                         char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "{");
    for (size_t j = 0; j < b->rs_n && n < cap; j++) {
        int i = jd_bench_rstat_find(a, b->rs_name[j]);
        uint64_t calls = b->rs_calls[j] - (i < 0 ? 0 : a->rs_calls[i]);
        uint64_t usec = b->rs_usec[j] - (i < 0 ? 0 : a->rs_usec[i]);
        if (!calls || strcmp(b->rs_name[j], "info") == 0)
            continue;
        n += (size_t)snprintf(buf + n, cap - n, "%s\"%s\":[%llu,%llu]", n > 1 ? "," : "",
                              b->rs_name[j], (unsigned long long)calls,
                              (unsigned long long)usec);
    }
    if (n < cap)
        snprintf(buf + n, cap - n, "}");
}

/* ---- MONITOR counter ------------------------------------------------------ */

#define JD_BENCH_MON_CMDS 32

struct jd_bench_monitor {
    pthread_t     mo_thread;
    redisContext *mo_rc;
    const jd_config_t *mo_cf;
    char          mo_marker[64];
    uint64_t      mo_client, mo_script;
    size_t        mo_n;
    char          mo_name[JD_BENCH_MON_CMDS][32];
    uint64_t      mo_calls[JD_BENCH_MON_CMDS];
};

/* A MONITOR line: `1700000000.123456 [0 127.0.0.1:5555] "evalsha" ...`;
 * commands run by scripts show `[0 lua]`. Returns 1 on the stop marker. */
static int jd_bench_monitor_line(jd_bench_monitor_t *mo, const char *line)
{
    const char *src = strchr(line, '['), *q;
    char name[32];
    size_t n = 0;
    if (strstr(line, mo->mo_marker))
        return 1;
    if (!src || !(src = strchr(src, ' ')) || !(q = strstr(src, "] \"")))
        return 0;
    if (strncmp(src + 1, "lua]", 4) == 0) {
        mo->mo_script++;
        return 0;
    }
    mo->mo_client++;
    for (q += 3; *q && *q != '"' && n < sizeof name - 1; q++)
        name[n++] = (char)tolower((unsigned char)*q);
    name[n] = '\0';
    for (size_t i = 0; i < mo->mo_n; i++)
        if (strcmp(mo->mo_name[i], name) == 0) {
            mo->mo_calls[i]++;
            return 0;
        }
    if (mo->mo_n < JD_BENCH_MON_CMDS) {
        snprintf(mo->mo_name[mo->mo_n], sizeof mo->mo_name[0], "%s", name);
        mo->mo_calls[mo->mo_n++] = 1;
    }
    return 0;
}

static void *jd_bench_monitor_main(void *arg)
{
    jd_bench_monitor_t *mo = arg;
    for (;;) {
        void *v = NULL;
        if (redisGetReply(mo->mo_rc, &v) != REDIS_OK || !v)
            break;
        redisReply *r = v;
        int stop = r->type == REDIS_REPLY_STATUS && jd_bench_monitor_line(mo, r->str);
        freeReplyObject(r);
        if (stop)
            break;
    }
    return NULL;
}

jd_bench_monitor_t *jd_bench_monitor_start(const jd_config_t *cf)
{
    jd_bench_monitor_t *mo = calloc(1, sizeof *mo);
    if (!mo)
        return NULL;
    mo->mo_cf = cf;
    snprintf(mo->mo_marker, sizeof mo->mo_marker, "jd-bench-monitor-stop-%d", (int)getpid());
    if (!(mo->mo_rc = jd_bench_redis_connect(cf))) {
        free(mo);
        return NULL;
    }
    struct timeval none = {0, 0};
    redisSetTimeout(mo->mo_rc, none);
    redisReply *r = redisCommand(mo->mo_rc, "MONITOR");
    int ok = r && r->type == REDIS_REPLY_STATUS;
    if (r)
        freeReplyObject(r);
    if (!ok || pthread_create(&mo->mo_thread, NULL, jd_bench_monitor_main, mo)) {
        fprintf(stderr, "bench: MONITOR failed\n");
        redisFree(mo->mo_rc);
        free(mo);
        return NULL;
    }
    return mo;
}

void jd_bench_monitor_stop(jd_bench_monitor_t *mo, uint64_t *client, uint64_t *in_script,
                           char *by_cmd, size_t cap)
{
    redisContext *rc = jd_bench_redis_connect(mo->mo_cf);
    if (rc) {
        redisReply *r = redisCommand(rc, "ECHO %s", mo->mo_marker);
        if (r)
            freeReplyObject(r);
        redisFree(rc);
    }
    pthread_join(mo->mo_thread, NULL);
    redisFree(mo->mo_rc);
    *client = mo->mo_client;
    *in_script = mo->mo_script;
    size_t n = (size_t)snprintf(by_cmd, cap, "{");
    for (size_t i = 0; i < mo->mo_n && n < cap; i++)
        n += (size_t)snprintf(by_cmd + n, cap - n, "%s\"%s\":%llu", i ? "," : "",
                              mo->mo_name[i], (unsigned long long)mo->mo_calls[i]);
    if (n < cap)
        snprintf(by_cmd + n, cap - n, "}");
    free(mo);
}

/* ---- the decoder of jd_pipeline ----------------------------------------------- */

/* The decoder of jd_pipeline (jd_decoder_from_config); without its
 * schema registry client, so benchmark topics carry the embedded product
 * schema under schemas.product_schema_id. */
jd_decoder_t *jd_bench_decoder(const jd_config_t *cf)
{
    jd_err_t err;
    jd_decoder_t *dec = jd_decoder_from_config(cf, &err);
    if (!dec)
        fprintf(stderr, "bench: decoder: %s\n", err.err_msg);
    return dec;
}

/* ---- Kafka helpers ------------------------------------------------------- */

int jd_bench_partitions(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    if (!e && md->topic_cnt == 1 && !md->topics[0].err)
        n = md->topics[0].partition_cnt;
    else
        fprintf(stderr, "bench: no metadata for topic %s: %s\n", topic,
                rd_kafka_err2str(e ? e : md->topics[0].err));
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

int64_t jd_bench_topic_end(rd_kafka_t *rk, const char *topic)
{
    int parts = jd_bench_partitions(rk, topic);
    int64_t sum = 0;
    for (int p = 0; p < parts; p++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000))
            return -1;
        sum += hi;
    }
    return parts < 0 ? -1 : sum;
}

static const char *jd_bench_dup(jd_arena_t *ar, const char *s)
{
    return s ? jd_arena_strndup(ar, s, strlen(s)) : NULL;
}

void jd_bench_event_copy(jd_arena_t *ar, jd_event_t *ev, const jd_event_t *src)
{
    *ev = *src;
    ev->ev_id = jd_bench_dup(ar, src->ev_id);
    ev->ev_account = jd_bench_dup(ar, src->ev_account);
    ev->ev_user = jd_bench_dup(ar, src->ev_user);
    ev->ev_type_name = jd_bench_dup(ar, src->ev_type_name);
    ev->ev_feature = jd_bench_dup(ar, src->ev_feature);
    ev->ev_attrs = jd_arena_alloc(ar, (src->ev_attr_cnt + 1) * sizeof *ev->ev_attrs);
    for (size_t a = 0; ev->ev_attrs && a < src->ev_attr_cnt; a++) {
        ev->ev_attrs[a].at_key = jd_bench_dup(ar, src->ev_attrs[a].at_key);
        ev->ev_attrs[a].at_val = jd_bench_dup(ar, src->ev_attrs[a].at_val);
    }
}
