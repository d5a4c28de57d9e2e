/*
 * jd_registry: Schema Registry REST client (contract in jd_registry.h).
 *
 * Design: one curl easy handle per client, reset to the common options
 * (auth, TLS, timeouts, headers) before each request; responses are read
 * into a buffer capped at 2 MiB (a registry answer larger than that is
 * not a product-event schema). JSON in and out goes through jansson, which
 * also does the double encoding of the registry's wire format (a schema
 * is a JSON string inside a JSON object).
 *
 * The cache is a hash table by id (jd_idmap, O(1) per message) over at
 * most schemas.registry.cache_max entries, kept in a ring in the order
 * they were made: when it is full the oldest entry goes, so ids carried
 * by hostile messages cannot grow it without bound. Failed fetches stay
 * in it with the time of failure. A definite answer (404, or an answer
 * with no schema in it) is asked for again after
 * schemas.registry.negative_ttl_ms: its messages are dead-lettered
 * meanwhile. No answer (unreachable, timeout, 5xx: JD_ERR_RETRY) is kept
 * only for schemas.registry.retry_ms, a short pause between two asks for
 * the same id: the pipeline waits out the outage (jd_decode_wait) and
 * asks again, so this must stay well under its back-off or the outage
 * outlasts the registry's by up to retry_ms.
 *
 * Runs on the pipeline thread (fetches, on a message with an unknown id)
 * and at start-up (registrations).
 */
#include "jd_registry.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jd_codec.h"
#include "jd_idmap.h"
#include "jd_log.h"
#include "jd_secret.h"
#include "jd_stage.h"
#include "jd_trigger.h"

#define JD_REGISTRY_MAX_BODY ((size_t)2 << 20)

typedef struct jd_reg_entry {
    int32_t  re_id;
    char    *re_json;        /* NULL: the last fetch failed */
    int64_t  re_failed_at;   /* ms, monotonic */
    int64_t  re_ttl_ms;      /* how long the failure is remembered */
    int      re_not_found;   /* the last answer was 404 */
    jd_err_t re_err;         /* why it failed */
} jd_reg_entry_t;

typedef struct jd_reg_body {
    char   *bd_data;
    size_t  bd_len;
    int     bd_over;
} jd_reg_body_t;

struct jd_registry {
    const jd_config_t *rg_cf;
    CURL              *rg_curl;
    jd_idmap_t         rg_idx;   /* id -> entry */
    jd_reg_entry_t   **rg_ring;  /* entries, oldest at rg_head */
    size_t             rg_cnt, rg_cap, rg_head;
};

static pthread_once_t jd_registry_once = PTHREAD_ONCE_INIT;

static void jd_registry_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t jd_registry_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

jd_registry_t *jd_registry_new(const jd_config_t *cf, jd_err_t *err)
{
    jd_registry_t *r;

    pthread_once(&jd_registry_once, jd_registry_global_init);
    if (!(r = calloc(1, sizeof *r)) || !(r->rg_curl = curl_easy_init())) {
        free(r);
        jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "schema registry: cannot create a curl handle");
        return NULL;
    }
    r->rg_cf = cf;
    r->rg_cap = cf->cf_registry_cache_max > 0 ? (size_t)cf->cf_registry_cache_max : 1;
    if (!(r->rg_ring = calloc(r->rg_cap, sizeof *r->rg_ring))) {
        jd_registry_destroy(r);
        jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "schema registry: cannot allocate the cache");
        return NULL;
    }
    return r;
}

void jd_registry_destroy(jd_registry_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->rg_cnt; i++) {
        jd_reg_entry_t *e = r->rg_ring[(r->rg_head + i) % r->rg_cap];
        free(e->re_json);
        free(e);
    }
    free(r->rg_ring);
    jd_idmap_fini(&r->rg_idx);
    curl_easy_cleanup(r->rg_curl);
    free(r);
}

/* ---- HTTP ---------------------------------------------------------------- */

static size_t jd_registry_write(char *p, size_t size, size_t n, void *opaque)
{
    jd_reg_body_t *b = opaque;
    size_t len = size * n;
    if (b->bd_len + len > JD_REGISTRY_MAX_BODY) {
        b->bd_over = 1;
        return 0;
    }
    char *nb = realloc(b->bd_data, b->bd_len + len + 1);
    if (!nb)
        return 0;
    memcpy(nb + b->bd_len, p, len);
    b->bd_len += len;
    nb[b->bd_len] = '\0';
    b->bd_data = nb;
    return len;
}

/* The options every request shares: auth, TLS, timeouts. */
static void jd_registry_common(jd_registry_t *r, jd_reg_body_t *body)
{
    const jd_config_t *cf = r->rg_cf;
    CURL *c = r->rg_curl;

    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)cf->cf_registry_timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)cf->cf_registry_timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, jd_registry_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "journeyd/" JD_VERSION);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (cf->cf_registry_username[0]) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, cf->cf_registry_username);
        curl_easy_setopt(c, CURLOPT_PASSWORD, cf->cf_registry_password);
    }
    if (cf->cf_registry_bearer[0]) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, cf->cf_registry_bearer);
    }
    if (cf->cf_registry_ca[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, cf->cf_registry_ca);
    if (cf->cf_registry_cert[0])
        curl_easy_setopt(c, CURLOPT_SSLCERT, cf->cf_registry_cert);
    if (cf->cf_registry_key[0])
        curl_easy_setopt(c, CURLOPT_SSLKEY, cf->cf_registry_key);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, (long)cf->cf_registry_verify);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, cf->cf_registry_verify ? 2L : 0L);
}

/* Failures that retrying cannot fix: the URL or the TLS settings are
 * wrong (or the certificate does not verify). */
static int jd_registry_config_error(CURLcode cc)
{
    switch (cc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
        return 1;
    default:
        return 0;
    }
}

/* One request to url + path (POST when `post` is not NULL). Returns the
 * HTTP status (>= 100) with the body in `body`, or JD_ERR_RETRY when the
 * registry could not be reached. */
static int jd_registry_request(jd_registry_t *r, const char *path, const char *post,
                               jd_reg_body_t *body, jd_err_t *err)
{
    char url[2048], shown[2048];
    struct curl_slist *hdrs = NULL;
    long status = 0;
    CURLcode cc;
    size_t ulen = strlen(r->rg_cf->cf_registry_url);

    snprintf(url, sizeof url, "%.*s%s", (int)(ulen && r->rg_cf->cf_registry_url[ulen - 1] == '/'
                                                  ? ulen - 1 : ulen),
             r->rg_cf->cf_registry_url, path);
    jd_registry_common(r, body);
    curl_easy_setopt(r->rg_curl, CURLOPT_URL, url);
    hdrs = curl_slist_append(hdrs, "Accept: application/vnd.schemaregistry.v1+json, "
                                   "application/json");
    if (post) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/vnd.schemaregistry.v1+json");
        curl_easy_setopt(r->rg_curl, CURLOPT_POSTFIELDS, post);
    }
    curl_easy_setopt(r->rg_curl, CURLOPT_HTTPHEADER, hdrs);
    cc = curl_easy_perform(r->rg_curl);
    curl_easy_getinfo(r->rg_curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt(r->rg_curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    jd_secret_mask_url(url, shown, sizeof shown); /* errors reach logs and DLQ headers */
    if (cc == CURLE_OK && status < 100)
        return jd_err_set(err, JD_ERR_RETRY, JD_E_IO, "schema registry %s: no HTTP status", shown);
    if (jd_registry_config_error(cc))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "schemas.registry: %s: %s (check url, ca_location, cert_location, "
                          "key_location, ssl_verify)", shown, curl_easy_strerror(cc));
    if (cc != CURLE_OK)
        return jd_err_set(err, JD_ERR_RETRY, JD_E_IO, "schema registry %s: %s", shown,
                          body->bd_over ? "answer too large" : curl_easy_strerror(cc));
    if (status >= 500)
        return jd_err_set(err, JD_ERR_RETRY, JD_E_IO, "schema registry %s: HTTP %ld", shown,
                          status);
    return (int)status;
}

/* ---- fetch by id ----------------------------------------------------------- */

/* The cache entry of `id`, made (evicting the oldest when full) if new;
 * NULL when out of memory. */
static jd_reg_entry_t *jd_registry_entry(jd_registry_t *r, int32_t id)
{
    jd_reg_entry_t *e = jd_idmap_get(&r->rg_idx, id);
    if (e)
        return e;
    if (r->rg_cnt == r->rg_cap) {
        jd_reg_entry_t *old = r->rg_ring[r->rg_head];
        jd_idmap_del(&r->rg_idx, old->re_id);
        free(old->re_json);
        free(old);
        r->rg_head = (r->rg_head + 1) % r->rg_cap;
        r->rg_cnt--;
    }
    if (!(e = calloc(1, sizeof *e)))
        return NULL;
    e->re_id = id;
    e->re_failed_at = INT64_MIN;
    if (jd_idmap_put(&r->rg_idx, id, e, NULL)) {
        free(e);
        return NULL;
    }
    r->rg_ring[(r->rg_head + r->rg_cnt++) % r->rg_cap] = e;
    return e;
}

int jd_registry_parse_schema(const char *body, size_t len, const char *what, char **json,
                             jd_err_t *err)
{
    json_t *doc = body ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *schema = json_object_get(doc, "schema");
    int rc = 0;

    *json = NULL;
    if (!json_is_string(schema))
        rc = jd_err_set(err, JD_ERR_SKIP, JD_E_UNKNOWN_SCHEMA,
                        "schema registry: %s: no \"schema\" string in the answer", what);
    else if (!(*json = strdup(json_string_value(schema))))
        rc = jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    json_decref(doc);
    return rc;
}

/* GET /schemas/ids/{id} into e->re_json. */
static int jd_registry_get(jd_registry_t *r, jd_reg_entry_t *e, jd_err_t *err)
{
    char path[64];
    jd_reg_body_t body = {0};
    int rc;

    snprintf(path, sizeof path, "/schemas/ids/%" PRId32, e->re_id);
    rc = jd_registry_request(r, path, NULL, &body, err);
    e->re_not_found = rc == 404;
    if (rc == 404)
        rc = jd_err_set(err, JD_ERR_SKIP, JD_E_UNKNOWN_SCHEMA,
                        "schema id %" PRId32 " is not in the schema registry", e->re_id);
    else if (rc >= 300)
        rc = jd_err_set(err, JD_ERR_RETRY, JD_E_IO, "schema registry: GET %s: HTTP %d",
                        path, rc);
    else if (rc > 0) {
        char what[80];
        snprintf(what, sizeof what, "GET %s", path);
        rc = jd_registry_parse_schema(body.bd_data, body.bd_len, what, &e->re_json, err);
    }
    free(body.bd_data);
    return rc;
}

int jd_registry_schema(jd_registry_t *r, int32_t id, const char **json, jd_err_t *err)
{
    jd_reg_entry_t *e = jd_registry_entry(r, id);
    int64_t now = jd_registry_now_ms();
    int rc;

    if (!e)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    if (e->re_json) {
        *json = e->re_json;
        return 0;
    }
    if (e->re_failed_at != INT64_MIN && now - e->re_failed_at < e->re_ttl_ms) {
        if (err)
            *err = e->re_err;
        return e->re_err.err_class;
    }
    if ((rc = jd_registry_get(r, e, err)) == 0) {
        JD_INFO("registry", "fetched writer schema id %" PRId32, id);
        *json = e->re_json;
        return 0;
    }
    e->re_failed_at = now;
    jd_err_set(&e->re_err, rc, err ? err->err_code : JD_E_IO, "%s",
               err ? err->err_msg : "schema registry error");
    /* a definite answer (404, a garbled answer) is remembered for the
     * negative TTL; no answer (outage, 5xx) for the short retry pause */
    e->re_ttl_ms = rc == JD_ERR_RETRY ? r->rg_cf->cf_registry_retry_ms
                                      : r->rg_cf->cf_registry_negative_ttl_ms;
    JD_WARN("registry", "schema id %" PRId32 ": %s (not asked again for %" PRId64 " ms)", id,
            e->re_err.err_msg, e->re_ttl_ms);
    return rc;
}

size_t jd_registry_subject(const char *strategy, const char *topic, const char *record,
                           char *out, size_t cap)
{
    int n;
    if (strategy && strcmp(strategy, "record") == 0)
        n = snprintf(out, cap, "%s", record);
    else if (strategy && strcmp(strategy, "topic_record") == 0)
        n = snprintf(out, cap, "%s-%s", topic, record);
    else
        n = snprintf(out, cap, "%s-value", topic);
    return n < 0 ? 0 : (size_t)n;
}

int jd_registry_outbound_ids(jd_registry_t *r, const jd_config_t *cf,
                             jd_registry_ids_t *ids, jd_err_t *err)
{
    const char *topics[JD_KIND__COUNT] = {cf->cf_topic_risk, cf->cf_topic_renewal,
                                          cf->cf_topic_expansion};
    char subject[512];
    int rc;

    _Static_assert(JD_KIND__COUNT == 3, "jd_registry_ids_t has one id per kind");
    for (int k = 0; k < JD_KIND__COUNT; k++)
        ids->ri_trigger[k] = cf->cf_trigger_schema_id;
    ids->ri_stage = cf->cf_stage_schema_id;
    if (!r || !cf->cf_registry_auto_register)
        return 0;
    const char *st = cf->cf_registry_subject_strategy;
    for (int k = 0; k < JD_KIND__COUNT; k++) {
        jd_registry_subject(st, topics[k], JD_REGISTRY_TRIGGER_RECORD, subject, sizeof subject);
        if ((rc = jd_registry_register(r, subject, jd_codec_trigger_schema_json(),
                                       &ids->ri_trigger[k], err)))
            return rc;
    }
    jd_registry_subject(st, cf->cf_topic_stage, JD_REGISTRY_STAGE_RECORD, subject,
                        sizeof subject);
    return jd_registry_register(r, subject, jd_stage_schema_json(), &ids->ri_stage, err);
}

int jd_registry_fetch_cb(void *opaque, int32_t id, const char **json, jd_err_t *err)
{
    return jd_registry_schema(opaque, id, json, err);
}

/* ---- register ---------------------------------------------------------------- */

int jd_registry_parse_id(const char *body, size_t len, const char *what, int32_t *id,
                         jd_err_t *err)
{
    json_t *doc = body ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *jid = json_object_get(doc, "id");
    int rc = 0;

    if (!json_is_integer(jid) || json_integer_value(jid) < 0 ||
        json_integer_value(jid) > INT32_MAX)
        rc = jd_err_set(err, JD_ERR_RETRY, JD_E_IO,
                        "schema registry: %s: no \"id\" in the answer", what);
    else
        *id = (int32_t)json_integer_value(jid);
    json_decref(doc);
    return rc;
}

int jd_registry_register(jd_registry_t *r, const char *subject, const char *schema_json,
                         int32_t *id, jd_err_t *err)
{
    char path[600];
    char *esc = curl_easy_escape(r->rg_curl, subject, 0);
    json_t *req = json_pack("{s:s}", "schema", schema_json);
    char *post = req ? json_dumps(req, JSON_COMPACT) : NULL;
    jd_reg_body_t body = {0};
    int rc;

    if (!esc || !post) {
        rc = jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        goto out;
    }
    snprintf(path, sizeof path, "/subjects/%s/versions", esc);
    rc = jd_registry_request(r, path, post, &body, err);
    if (rc >= 300) {
        rc = jd_err_set(err, JD_ERR_FATAL, JD_E_SCHEMA,
                        "schema registry refused to register subject %s: HTTP %d: %.200s",
                        subject, rc, body.bd_data ? body.bd_data : "");
    } else if (rc > 0) {
        char what[640];
        snprintf(what, sizeof what, "POST %s", path);
        if ((rc = jd_registry_parse_id(body.bd_data, body.bd_len, what, id, err)) == 0)
            JD_INFO("registry", "subject %s: schema id %" PRId32, subject, *id);
    }
out:
    json_decref(req);
    free(post);
    curl_free(esc);
    free(body.bd_data);
    return rc;
}

/* ---- look up by subject and version ------------------------------------------ */

int jd_registry_parse_version(const char *body, size_t len, const char *what, int32_t *id,
                              char **json, jd_err_t *err)
{
    int rc = jd_registry_parse_id(body, len, what, id, err);
    if (rc == 0 && (rc = jd_registry_parse_schema(body, len, what, json, err)) == JD_ERR_SKIP)
        rc = jd_err_set(err, JD_ERR_RETRY, JD_E_IO,
                        "schema registry: %s: no \"schema\" string in the answer", what);
    return rc;
}

int jd_registry_lookup(jd_registry_t *r, const char *subject, const char *version, int32_t *id,
                       char **json, jd_err_t *err)
{
    char path[600], what[640];
    char *esc = curl_easy_escape(r->rg_curl, subject, 0);
    jd_reg_body_t body = {0};
    int rc;

    *json = NULL;
    if (!esc)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    snprintf(path, sizeof path, "/subjects/%s/versions/%s", esc, version);
    snprintf(what, sizeof what, "GET %s", path);
    rc = jd_registry_request(r, path, NULL, &body, err);
    if (rc >= 300)
        rc = jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                        "schema registry has no version %s of subject %s (%s: HTTP %d: %.200s)",
                        version, subject, what, rc, body.bd_data ? body.bd_data : "");
    else if (rc > 0)
        rc = jd_registry_parse_version(body.bd_data, body.bd_len, what, id, json, err);
    curl_free(esc);
    free(body.bd_data);
    return rc;
}
