/*
 * test_registry: the schema registry client (consumer/jd_registry.c).
 *
 *   - the two answer parsers, no I/O: jd_registry_parse_id (the answer to
 *     a registration) and jd_registry_parse_schema (the answer to a fetch),
 *     on good and bad bodies;
 *   - the client's cache and failure handling against a tiny HTTP server
 *     run by the test itself (a thread on an ephemeral 127.0.0.1 port,
 *     one connection at a time, counting the GET /schemas/ids/{id} it is
 *     sent): ids past schemas.registry.cache_max are fetched again (the
 *     oldest entry goes first), an id answered 404 is asked again only
 *     after schemas.registry.negative_ttl_ms, and a registry that takes
 *     the request but never answers yields the retriable outage result
 *     (JD_ERR_RETRY, never the definite not-found JD_ERR_SKIP) within
 *     schemas.registry.timeout_ms, is asked again after retry_ms and is
 *     used once it answers.
 * The server knows ids 1..99 (their schema text is "\"string\"" tagged
 * with the id) and answers 404 to every other id; and subject "up value",
 * versions 1 and 2 (ids 41, 42; latest is 2), for lookups by subject
 * (jd_registry_lookup, jd_config_subject_ref, jd_registry_parse_version).
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "jd_config.h"
#include "jd_log.h"
#include "jd_registry.h"

/* ---- the answer parsers ------------------------------------------------- */

static int parse_id(const char *body, int32_t *id, jd_err_t *err)
{
    *id = -7;
    return jd_registry_parse_id(body, body ? strlen(body) : 0, "POST /subjects/s/versions", id,
                                err);
}

Test(registry, parse_id_good)
{
    static const struct { const char *body; int32_t id; } good[] = {
        {"{\"id\":101}", 101},
        {"{\"id\":0}", 0},
        {" {\"id\" : 2147483647 , \"extra\": [1, {\"id\": 3}]}\n", INT32_MAX},
        {"{\"version\":2,\"id\":7}", 7},
    };
    jd_err_t err;
    int32_t id;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        cr_assert_eq(parse_id(good[i].body, &id, &err), 0, "%s: %s", good[i].body, err.err_msg);
        cr_assert_eq(id, good[i].id, "%s", good[i].body);
    }
    /* the length bounds the body: it need not end in NUL */
    cr_assert_eq(jd_registry_parse_id("{\"id\":42}garbage", 9, "x", &id, &err), 0, "%s",
                 err.err_msg);
    cr_assert_eq(id, 42);
}

Test(registry, parse_id_bad)
{
    static const char *const bad[] = {
        NULL, "", "{", "{\"id\":12", "null", "[101]", "101", "{}",
        "{\"id\":-1}", "{\"id\":2147483648}", "{\"id\":\"101\"}", "{\"id\":101.0}",
        "{\"id\":null}", "{\"id\":true}", "{\"ID\":101}", "{\"schema\":{\"id\":101}}",
        "{\"error_code\":42201,\"message\":\"Invalid schema\"}",
    };
    jd_err_t err;
    int32_t id;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(parse_id(bad[i], &id, &err), JD_ERR_RETRY, "%s", bad[i] ? bad[i] : "NULL");
        cr_assert_eq(err.err_code, JD_E_IO);
        cr_assert(strstr(err.err_msg, "POST /subjects/s/versions: no \"id\""), "%s",
                  err.err_msg);
        cr_assert_eq(id, -7, "%s: *id changed on error", bad[i] ? bad[i] : "NULL");
    }
    /* a body cut by its length is not the whole JSON document */
    cr_assert_eq(jd_registry_parse_id("{\"id\":42}", 8, "x", &id, &err), JD_ERR_RETRY);
}

Test(registry, parse_schema_good_and_bad)
{
    static const char *const bad[] = {NULL, "", "{\"schema\":1}", "{\"id\":1}",
                                      "{\"error_code\":40403,\"message\":\"Schema not found\"}"};
    const char *good = "{\"schema\":\"{\\\"type\\\":\\\"string\\\"}\"}";
    jd_err_t err;
    char *json;

    cr_assert_eq(jd_registry_parse_schema(good, strlen(good), "GET x", &json, &err), 0);
    cr_assert_str_eq(json, "{\"type\":\"string\"}");
    free(json);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *b = bad[i];
        cr_assert_eq(jd_registry_parse_schema(b, b ? strlen(b) : 0, "GET x", &json, &err),
                     JD_ERR_SKIP, "%s", b ? b : "NULL");
        cr_assert_eq(err.err_code, JD_E_UNKNOWN_SCHEMA);
        cr_assert_null(json);
    }
}

/* SUBJECT[@VERSION] entries of schemas.registry.input_subjects. */
Test(registry, subject_refs)
{
    char subj[32], ver[16];
    cr_assert_eq(jd_config_subject_ref("a-value", subj, sizeof subj, ver, sizeof ver), 0);
    cr_assert(!strcmp(subj, "a-value") && !strcmp(ver, "latest"), "%s %s", subj, ver);
    cr_assert_eq(jd_config_subject_ref("a@3", subj, sizeof subj, ver, sizeof ver), 0);
    cr_assert(!strcmp(subj, "a") && !strcmp(ver, "3"), "%s %s", subj, ver);
    cr_assert_eq(jd_config_subject_ref("a@b@latest", subj, sizeof subj, ver, sizeof ver), 0);
    cr_assert(!strcmp(subj, "a@b") && !strcmp(ver, "latest"), "%s %s", subj, ver);
    static const char *const bad[] = {"", "@3", "a@", "a@0", "a@x", "a@-1", "a@99999999999",
                                      "a@2147483648", "a-subject-name-longer-than-32-bytes"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(jd_config_subject_ref(bad[i], subj, sizeof subj, ver, sizeof ver), -1,
                     "'%s' accepted", bad[i]);
}

Test(registry, parse_version_good_and_bad)
{
    jd_err_t err;
    int32_t id = -1;
    char *json = NULL;
    const char *good = "{\"subject\":\"s\",\"version\":3,\"id\":12,\"schema\":\"\\\"long\\\"\"}";
    cr_assert_eq(jd_registry_parse_version(good, strlen(good), "GET x", &id, &json, &err), 0,
                 "%s", err.err_msg);
    cr_assert_eq(id, 12);
    cr_assert_str_eq(json, "\"long\"");
    free(json);
    static const char *const bad[] = {"{\"id\":12}", "{\"schema\":\"x\"}", "[]", "nope"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json = NULL;
        cr_assert_eq(jd_registry_parse_version(bad[i], strlen(bad[i]), "GET x", &id, &json, &err),
                     JD_ERR_RETRY, "%s", bad[i]);
        cr_assert_null(json);
    }
}

/* ---- a tiny registry ---------------------------------------------------- */

#define SRV_IDS 200

typedef struct srv {
    int          sv_fd;              /* listening socket */
    int          sv_port;
    pthread_t    sv_thr;
    atomic_int   sv_stop;
    atomic_int   sv_hang;            /* read requests, answer none */
    atomic_int   sv_asked[SRV_IDS];  /* GET /schemas/ids/{id} received */
} srv_t;

static srv_t g_srv;

/* One answer to the request in `req` (a GET; nothing else is sent). */
static void srv_answer(int fd, const char *req)
{
    char body[128], out[512];
    int id = -1, code = 404;

    if (sscanf(req, "GET /schemas/ids/%d ", &id) == 1 && id >= 0 && id < SRV_IDS)
        atomic_fetch_add(&g_srv.sv_asked[id], 1);
    if (atomic_load(&g_srv.sv_hang))
        return;
    /* subject "up value" (escaped), versions 1..2 and latest (= 2): id 40 + version */
    int version = 0;
    if (strstr(req, "GET /subjects/up%20value/versions/latest ") == req)
        version = 2;
    else if (sscanf(req, "GET /subjects/up%%20value/versions/%d ", &version) != 1)
        version = 0;
    if (version == 1 || version == 2) {
        code = 200;
        snprintf(body, sizeof body,
                 "{\"subject\":\"up value\",\"version\":%d,\"id\":%d,"
                 "\"schema\":\"\\\"string\\\"\"}", version, 40 + version);
    } else if (id >= 1 && id < 100) {
        code = 200;
        snprintf(body, sizeof body, "{\"schema\":\"{\\\"type\\\":\\\"string\\\",\\\"id\\\":%d}\"}",
                 id);
    } else {
        snprintf(body, sizeof body, "{\"error_code\":40403,\"message\":\"Schema not found\"}");
    }
    int n = snprintf(out, sizeof out,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     code, code == 200 ? "OK" : "Not Found", strlen(body), body);
    cr_assert_eq(write(fd, out, (size_t)n), n);
}

/* Waits (polling, so a stop is seen within 20 ms) for fd to be readable:
 * 1 readable, 0 stopping. */
static int srv_wait(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (!atomic_load(&g_srv.sv_stop)) {
        if (poll(&p, 1, 20) > 0)
            return 1;
    }
    return 0;
}

/* Requests of one connection, until the client closes it. */
static void srv_conn(int fd)
{
    char req[4096];
    size_t len = 0;

    while (srv_wait(fd)) {
        ssize_t k = read(fd, req + len, sizeof req - 1 - len);
        if (k <= 0)
            return;
        len += (size_t)k;
        req[len] = '\0';
        char *end;
        while ((end = strstr(req, "\r\n\r\n"))) {
            *end = '\0';
            srv_answer(fd, req);
            end += 4;
            len -= (size_t)(end - req);
            memmove(req, end, len + 1);
        }
        if (len == sizeof req - 1)
            return;
    }
}

static void *srv_main(void *opaque)
{
    (void)opaque;
    while (srv_wait(g_srv.sv_fd)) {
        int fd = accept(g_srv.sv_fd, NULL, NULL);
        if (fd >= 0) {
            srv_conn(fd);
            close(fd);
        }
    }
    return NULL;
}

static void srv_start(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;

    cr_assert((g_srv.sv_fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
    cr_assert_eq(bind(g_srv.sv_fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(g_srv.sv_fd, 8), 0);
    cr_assert_eq(getsockname(g_srv.sv_fd, (struct sockaddr *)&sa, &len), 0);
    g_srv.sv_port = ntohs(sa.sin_port);
    cr_assert_eq(pthread_create(&g_srv.sv_thr, NULL, srv_main, NULL), 0);
}

static void srv_stop(void)
{
    atomic_store(&g_srv.sv_stop, 1);
    pthread_join(g_srv.sv_thr, NULL);
    close(g_srv.sv_fd);
}

static int asked(int id)
{
    return atomic_load(&g_srv.sv_asked[id]);
}

/* ---- the client against it ---------------------------------------------- */

static jd_config_t *g_cf;
static jd_registry_t *g_reg;

static void setup(void)
{
    jd_log_set_level(JD_LOG_ERROR);
    srv_start();
    cr_assert_not_null(g_cf = jd_config_new());
}

static void teardown(void)
{
    jd_registry_destroy(g_reg);
    jd_config_destroy(g_cf);
    srv_stop();
}

/* The client, with schemas.registry.url at the server and the given
 * "key=value" settings (keys under schemas.registry.). */
static void client(const char *const *kv, size_t n)
{
    char url[64], key[128];
    jd_err_t err;

    snprintf(url, sizeof url, "http://127.0.0.1:%d", g_srv.sv_port);
    cr_assert_eq(jd_config_set(g_cf, "schemas.registry.url", url, "test", &err), 0);
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(kv[i], '=');
        snprintf(key, sizeof key, "schemas.registry.%.*s", (int)(eq - kv[i]), kv[i]);
        cr_assert_eq(jd_config_set(g_cf, key, eq + 1, "test", &err), 0, "%s", err.err_msg);
    }
    cr_assert_not_null(g_reg = jd_registry_new(g_cf, &err), "%s", err.err_msg);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Fetches `id`, which the server knows: its schema text names it. */
static void fetch_ok(int32_t id)
{
    const char *json = NULL;
    char want[64];
    jd_err_t err;

    cr_assert_eq(jd_registry_schema(g_reg, id, &json, &err), 0, "id %d: %s", id, err.err_msg);
    snprintf(want, sizeof want, "{\"type\":\"string\",\"id\":%d}", id);
    cr_assert_str_eq(json, want);
}

/* Fetches `id` and expects the result `rc` (an error class). */
static void fetch_fails(int32_t id, int rc, jd_err_code_t code)
{
    const char *json = NULL;
    jd_err_t err;

    cr_assert_eq(jd_registry_schema(g_reg, id, &json, &err), rc, "id %d: %s", id, err.err_msg);
    cr_assert_eq(err.err_code, code, "id %d: %s", id, err.err_msg);
}

TestSuite(registry_http, .init = setup, .fini = teardown);

/* The cache is a ring of cache_max entries, the oldest going first:
 * cached ids cost no request, an id pushed out costs one more. */
Test(registry_http, ids_past_cache_max_are_fetched_again)
{
    static const char *const kv[] = {"cache_max=2"};
    client(kv, 1);
    fetch_ok(1);
    fetch_ok(2);
    fetch_ok(1);
    fetch_ok(2);
    cr_assert(asked(1) == 1 && asked(2) == 1, "cached ids asked again: %d %d", asked(1),
              asked(2));
    fetch_ok(3);   /* the cache is full: 1, the oldest, goes */
    fetch_ok(2);
    cr_assert_eq(asked(2), 1, "2 is still cached");
    fetch_ok(1);   /* fetched again; 2 goes */
    cr_assert_eq(asked(1), 2);
    fetch_ok(3);
    cr_assert_eq(asked(3), 1, "3 is still cached");
    fetch_ok(2);
    cr_assert_eq(asked(2), 2);
}

/* Ids the registry does not know count against cache_max too, so hostile
 * ids cannot grow the cache: one pushed out is asked again even inside
 * its negative TTL. */
Test(registry_http, not_found_ids_are_bounded_by_cache_max)
{
    static const char *const kv[] = {"cache_max=2", "negative_ttl_ms=600000"};
    client(kv, 2);
    fetch_fails(150, JD_ERR_SKIP, JD_E_UNKNOWN_SCHEMA);
    fetch_fails(150, JD_ERR_SKIP, JD_E_UNKNOWN_SCHEMA);
    cr_assert_eq(asked(150), 1);
    fetch_ok(1);
    fetch_ok(2);   /* 150 goes */
    fetch_fails(150, JD_ERR_SKIP, JD_E_UNKNOWN_SCHEMA);
    cr_assert_eq(asked(150), 2);
}

/* A 404 is remembered for negative_ttl_ms (not retry_ms, here 0): its
 * messages are refused without a request until then, and the id is
 * asked once more after it. */
Test(registry_http, not_found_is_asked_again_after_the_negative_ttl)
{
    static const char *const kv[] = {"negative_ttl_ms=700", "retry_ms=0"};
    client(kv, 2);
    int64_t t0 = now_ms();
    fetch_fails(150, JD_ERR_SKIP, JD_E_UNKNOWN_SCHEMA);
    for (int i = 0; i < 20; i++)
        fetch_fails(150, JD_ERR_SKIP, JD_E_UNKNOWN_SCHEMA);
    cr_assert_lt(now_ms() - t0, 700, "too slow to test the TTL");
    cr_assert_eq(asked(150), 1, "404 asked %d times inside its TTL", asked(150));
    while (now_ms() - t0 < 800)
        usleep(20000);
    fetch_fails(150, JD_ERR_SKIP, JD_E_UNKNOWN_SCHEMA);
    cr_assert_eq(asked(150), 2, "404 not asked again after its TTL");
    fetch_fails(150, JD_ERR_SKIP, JD_E_UNKNOWN_SCHEMA);
    cr_assert_eq(asked(150), 2);
}

/* A registry that takes the request and never answers is an outage: the
 * retriable result (the pipeline pauses and backs off; it does not
 * dead-letter), within timeout_ms. The id waits retry_ms between asks
 * and decodes once the registry answers. */
Test(registry_http, a_registry_that_never_answers_is_an_outage)
{
    static const char *const kv[] = {"timeout_ms=300", "retry_ms=400",
                                     "negative_ttl_ms=600000"};
    client(kv, 3);
    atomic_store(&g_srv.sv_hang, 1);
    int64_t t0 = now_ms();
    fetch_fails(5, JD_ERR_RETRY, JD_E_IO);
    int64_t took = now_ms() - t0;
    cr_assert(took >= 250 && took < 3000, "timed out after %lld ms (timeout_ms=300)",
              (long long)took);
    cr_assert_eq(asked(5), 1, "the request did not reach the server");
    fetch_fails(5, JD_ERR_RETRY, JD_E_IO);   /* within retry_ms: no request */
    cr_assert_eq(asked(5), 1);
    while (now_ms() - t0 < took + 450)
        usleep(20000);
    fetch_fails(5, JD_ERR_RETRY, JD_E_IO);   /* asked again: still hangs */
    cr_assert_eq(asked(5), 2);
    atomic_store(&g_srv.sv_hang, 0);
    t0 = now_ms();
    while (now_ms() - t0 < 450)
        usleep(20000);
    fetch_ok(5);                             /* the registry answers again */
    cr_assert_eq(asked(5), 3);
}

/* Registration against a registry that never answers: retriable too (the
 * engine backs off and registers again), within timeout_ms. */
Test(registry_http, registration_that_gets_no_answer_is_retriable)
{
    static const char *const kv[] = {"timeout_ms=200"};
    jd_err_t err;
    int32_t id = -7;
    client(kv, 1);
    atomic_store(&g_srv.sv_hang, 1);
    int64_t t0 = now_ms();
    cr_assert_eq(jd_registry_register(g_reg, "t-value", "\"string\"", &id, &err), JD_ERR_RETRY,
                 "%s", err.err_msg);
    cr_assert_lt(now_ms() - t0, 3000);
    cr_assert_eq(err.err_code, JD_E_IO);
    cr_assert_eq(id, -7);
}

/* Lookups by subject and version: the subject escaped in the path, latest
 * and a number; an unknown version or subject is a configuration error
 * naming both; no answer is an outage. */
Test(registry_http, subjects_are_looked_up_by_version)
{
    static const char *const kv[] = {"timeout_ms=300"};
    jd_err_t err;
    int32_t id = -1;
    char *json = NULL;
    client(kv, 1);
    cr_assert_eq(jd_registry_lookup(g_reg, "up value", "latest", &id, &json, &err), 0, "%s",
                 err.err_msg);
    cr_assert_eq(id, 42);
    cr_assert_str_eq(json, "\"string\"");
    free(json);
    cr_assert_eq(jd_registry_lookup(g_reg, "up value", "1", &id, &json, &err), 0, "%s",
                 err.err_msg);
    cr_assert_eq(id, 41);
    free(json);
    cr_assert_eq(jd_registry_lookup(g_reg, "up value", "3", &id, &json, &err), JD_ERR_FATAL);
    cr_assert_eq(err.err_code, JD_E_CONFIG);
    cr_assert(strstr(err.err_msg, "version 3 of subject up value") &&
              strstr(err.err_msg, "HTTP 404"), "%s", err.err_msg);
    cr_assert_null(json);
    atomic_store(&g_srv.sv_hang, 1);
    cr_assert_eq(jd_registry_lookup(g_reg, "up value", "latest", &id, &json, &err), JD_ERR_RETRY,
                 "%s", err.err_msg);
    cr_assert_null(json);
}
