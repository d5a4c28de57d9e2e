/*
 * Metrics registry and operations surface: Prometheus text exposition
 * (labels, escaping, cumulative histogram buckets), librdkafka statistics
 * parsing (lag per partition, broker up/down, bad JSON), the hooks, and
 * the HTTP routes served by a real libmicrohttpd server on an ephemeral
 * loopback port (readiness against a Redis port nobody listens on).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "jd_config.h"
#include "jd_http.h"
#include "jd_metrics.h"
#include "jd_ops.h"

static char *render(jd_metrics_t *m)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert(f);
    jd_metrics_render(m, f);
    fclose(f);
    return buf;
}

Test(metrics, counter_gauge_labels_and_escaping)
{
    jd_metrics_t *m = jd_metrics_new();
    jd_metric_t *c = jd_metrics_declare(m, JD_METRIC_COUNTER, "x_total", "Things.",
                                        "topic,partition", NULL, 0);
    jd_metric_t *g = jd_metrics_declare(m, JD_METRIC_GAUGE, "y", "A gauge.", "", NULL, 0);
    const char *a[] = {"t1", "0"}, *b[] = {"we\"ird\\", "1"};
    cr_assert(c && g);
    cr_assert_null(jd_metrics_declare(m, JD_METRIC_GAUGE, "y", "again", "", NULL, 0));
    jd_metric_add(c, a, 2);
    jd_metric_add(c, a, 3);
    jd_metric_add(c, b, 1);
    jd_metric_add(c, a, -7); /* counters never go down */
    jd_metric_set(g, NULL, 42.5);
    cr_assert_eq(jd_metric_value(c, a), 5);
    cr_assert_eq(jd_metric_total(c), 6);
    char *text = render(m);
    cr_assert(strstr(text, "# HELP x_total Things.\n# TYPE x_total counter\n"), "%s", text);
    cr_assert(strstr(text, "x_total{topic=\"t1\",partition=\"0\"} 5\n"), "%s", text);
    cr_assert(strstr(text, "x_total{topic=\"we\\\"ird\\\\\",partition=\"1\"} 1\n"), "%s", text);
    cr_assert(strstr(text, "# TYPE y gauge\ny 42.5\n"), "%s", text);
    free(text);
    jd_metric_reset(c);
    cr_assert_eq(jd_metric_total(c), 0);
    jd_metrics_destroy(m);
}

Test(metrics, histogram_buckets_are_cumulative)
{
    static const double bounds[] = {1, 10, 100};
    jd_metrics_t *m = jd_metrics_new();
    jd_metric_t *h = jd_metrics_declare(m, JD_METRIC_HISTOGRAM, "h", "Sizes.", "op", bounds, 3);
    const char *op[] = {"apply"};
    jd_metric_observe(h, op, 0.5);
    jd_metric_observe(h, op, 10);   /* le is inclusive */
    jd_metric_observe(h, op, 50);
    jd_metric_observe(h, op, 1000);
    char *text = render(m);
    cr_assert(strstr(text, "h_bucket{op=\"apply\",le=\"1\"} 1\n"), "%s", text);
    cr_assert(strstr(text, "h_bucket{op=\"apply\",le=\"10\"} 2\n"), "%s", text);
    cr_assert(strstr(text, "h_bucket{op=\"apply\",le=\"100\"} 3\n"), "%s", text);
    cr_assert(strstr(text, "h_bucket{op=\"apply\",le=\"+Inf\"} 4\n"), "%s", text);
    cr_assert(strstr(text, "h_sum{op=\"apply\"} 1060.5\n"), "%s", text);
    cr_assert(strstr(text, "h_count{op=\"apply\"} 4\n"), "%s", text);
    free(text);
    jd_metrics_destroy(m);
}

static const char stats_json[] =
    "{\"type\":\"consumer\",\"brokers\":{"
    "\"sasl_ssl://b:9092/bootstrap\":{\"nodeid\":-1,\"state\":\"UP\"},"
    "\"b:9092/1\":{\"nodeid\":1,\"state\":\"%s\"}},"
    "\"topics\":{\"product-events\":{\"partitions\":{"
    "\"0\":{\"partition\":0,\"fetch_state\":\"active\",\"consumer_lag\":17},"
    "\"1\":{\"partition\":1,\"fetch_state\":\"active\",\"consumer_lag\":-1},"
    "\"2\":{\"partition\":2,\"fetch_state\":\"none\",\"consumer_lag\":99},"
    "\"-1\":{\"partition\":-1,\"fetch_state\":\"none\",\"consumer_lag\":-1}}}}}";

/* Consumer `name`'s statistics: partition 0 and 1 in the given states. */
static void two_part_stats(char *json, size_t cap, const char *name, const char *st0, int lag0,
                           const char *st1, int lag1)
{
    snprintf(json, cap,
             "{\"type\":\"consumer\",\"name\":\"%s\",\"brokers\":{},"
             "\"topics\":{\"ev\":{\"partitions\":{"
             "\"0\":{\"partition\":0,\"fetch_state\":\"%s\",\"consumer_lag\":%d},"
             "\"1\":{\"partition\":1,\"fetch_state\":\"%s\",\"consumer_lag\":%d}}}}}",
             name, st0, lag0, st1, lag1);
}

Test(ops, lag_of_several_consumers_is_kept_per_owner)
{
    jd_config_t *cf = jd_config_new();
    jd_err_t err;
    char json[1024];
    jd_ops_t *ops = jd_ops_new(cf, &err);
    cr_assert(ops, "%s", err.err_msg);
    /* two pipeline threads: a owns partition 0, b partition 1 */
    two_part_stats(json, sizeof json, "c#a", "active", 17, "none", -1);
    cr_assert_eq(jd_ops_stats(ops, json, strlen(json)), 0);
    two_part_stats(json, sizeof json, "c#b", "none", -1, "active", 5);
    cr_assert_eq(jd_ops_stats(ops, json, strlen(json)), 0);
    char *text = render(jd_ops_metrics(ops));
    cr_assert(strstr(text, "consumer_lag{topic=\"ev\",partition=\"0\"} 17\n"),
              "b's statistics must not drop a's partition: %s", text);
    cr_assert(strstr(text, "consumer_lag{topic=\"ev\",partition=\"1\"} 5\n"), "%s", text);
    free(text);
    /* a gives partition 0 up: its series goes, b's stays */
    two_part_stats(json, sizeof json, "c#a", "none", -1, "none", -1);
    cr_assert_eq(jd_ops_stats(ops, json, strlen(json)), 0);
    text = render(jd_ops_metrics(ops));
    cr_assert_null(strstr(text, "partition=\"0\"}"), "%s", text);
    cr_assert(strstr(text, "consumer_lag{topic=\"ev\",partition=\"1\"} 5\n"), "%s", text);
    free(text);
    jd_ops_destroy(ops);
    jd_config_destroy(cf);
}

Test(ops, statistics_give_lag_and_broker_state)
{
    jd_config_t *cf = jd_config_new();
    jd_err_t err;
    char json[1024], why[256];
    jd_ops_t *ops = jd_ops_new(cf, &err);
    cr_assert(ops, "%s", err.err_msg);
    cr_assert_eq(jd_ops_http_port(ops), 0, "http.port 0 means no server");

    snprintf(json, sizeof json, stats_json, "UP");
    cr_assert_eq(jd_ops_stats(ops, json, strlen(json)), 0);
    char *text = render(jd_ops_metrics(ops));
    cr_assert(strstr(text, "journeyd_kafka_consumer_lag{topic=\"product-events\",partition=\"0\"} 17\n"),
              "%s", text);
    cr_assert_null(strstr(text, "partition=\"1\"} -1"), "unknown lag is not reported");
    cr_assert_null(strstr(text, "partition=\"2\"}"), "unassigned partitions are not reported");
    cr_assert(strstr(text, "journeyd_kafka_up 1\n"), "%s", text);
    free(text);

    snprintf(json, sizeof json, stats_json, "DOWN");
    cr_assert_eq(jd_ops_stats(ops, json, strlen(json)), 0);
    text = render(jd_ops_metrics(ops));
    cr_assert(strstr(text, "journeyd_kafka_up 0\n"), "the bootstrap entry (nodeid -1) does not count");
    free(text);

    cr_assert_eq(jd_ops_stats(ops, "{not json", 9), -1);
    text = render(jd_ops_metrics(ops));
    cr_assert(strstr(text, "journeyd_kafka_stats_errors_total 1\n"), "%s", text);
    free(text);

    /* Nothing listens on port 1: Redis is unreachable, not ready. */
    jd_config_set(cf, "redis.port", "1", "test", &err);
    cr_assert_eq(jd_ops_ready(ops, why, sizeof why), 0);
    cr_assert(strstr(why, "redis"), "%s", why);
    jd_ops_destroy(ops);
    jd_config_destroy(cf);
}

Test(ops, hooks_count_only_when_installed)
{
    jd_config_t *cf = jd_config_new();
    jd_err_t err;
    jd_ops_t *ops = jd_ops_new(cf, &err);
    cr_assert(ops);
    jd_ops_consumed("t", 0); /* not installed yet: ignored */
    jd_ops_install(ops);
    jd_ops_consumed("t", 0);
    jd_ops_consumed("t", 0);
    jd_ops_decode_error(JD_E_MALFORMED);
    jd_ops_trigger("RISK", "usage_drop");
    jd_ops_batch(3);
    jd_ops_event_time(1700000000000LL);
    char *text = render(jd_ops_metrics(ops));
    cr_assert(strstr(text, "journeyd_events_consumed_total{topic=\"t\",partition=\"0\"} 2\n"), "%s", text);
    cr_assert(strstr(text, "journeyd_decode_errors_total{reason=\"malformed_avro\"} 1\n"), "%s", text);
    cr_assert_null(strstr(text, "journeyd_dead_letters_total{"), "not acknowledged yet");
    cr_assert(strstr(text, "journeyd_triggers_total{kind=\"RISK\",rule=\"usage_drop\"} 1\n"), "%s", text);
    cr_assert(strstr(text, "journeyd_batch_size_count 1\n"), "%s", text);
    free(text);
    jd_ops_dead_letters_delivered();
    char *body = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&body, &len);
    cr_assert_eq(jd_ops_render(ops, f), 200);
    fclose(f);
    cr_assert(strstr(body, "journeyd_dead_letters_total{reason=\"malformed_avro\"} 1\n"), "%s", body);
    cr_assert(strstr(body, "journeyd_event_time_watermark_seconds 1700000000\n"), "%s", body);
    free(body);
    jd_ops_destroy(ops); /* also uninstalls */
    jd_ops_consumed("t", 0);
    jd_config_destroy(cf);
}

/* GET path on 127.0.0.1:port; returns the status, body in buf. */
static int http_get(int port, const char *path, char *buf, size_t cap)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), status = -1;
    size_t n = 0;
    ssize_t r;
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    dprintf(fd, "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
    while (n + 1 < cap && (r = read(fd, buf + n, cap - n - 1)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    close(fd);
    sscanf(buf, "HTTP/1.%*d %d", &status);
    return status;
}

static int route_hello(void *opaque, FILE *out, const char **ctype)
{
    (void)ctype;
    fprintf(out, "hello %s\n", (const char *)opaque);
    return 200;
}

Test(http, routes_404_and_ephemeral_port)
{
    jd_http_route_t routes[] = {{"/hello", route_hello, "world"}};
    jd_err_t err;
    char buf[4096];
    jd_http_t *h = jd_http_new("127.0.0.1", 0, routes, 1, &err);
    cr_assert(h, "%s", err.err_msg);
    cr_assert_gt(jd_http_port(h), 0);
    cr_assert_eq(http_get(jd_http_port(h), "/hello", buf, sizeof buf), 200);
    cr_assert(strstr(buf, "\r\n\r\nhello world\n"), "%s", buf);
    cr_assert_eq(http_get(jd_http_port(h), "/nope", buf, sizeof buf), 404);
    cr_assert_null(jd_http_new("not-an-ip", 0, routes, 1, &err));
    cr_assert(strstr(err.err_msg, "http.address"), "%s", err.err_msg);
    jd_http_destroy(h);
}
