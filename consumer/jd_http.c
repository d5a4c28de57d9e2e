/*
 * jd_http: libmicrohttpd server with a table of GET routes (contract in
 * jd_http.h).
 *
 * The daemon runs its own polling thread (MHD_USE_INTERNAL_POLLING_THREAD)
 * and is bound to the configured address only - loopback by default, so
 * metrics are not exposed to the network unless asked for. Each response
 * body is built in an open_memstream buffer handed to libmicrohttpd, which
 * frees it (MHD_RESPMEM_MUST_FREE) after sending.
 */
#include "jd_http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "jd_log.h"

struct jd_http {
    struct MHD_Daemon     *ht_daemon;
    const jd_http_route_t *ht_routes;
    size_t                 ht_nroutes;
    int                    ht_port;
};

static enum MHD_Result jd_http_reply(struct MHD_Connection *conn, int status,
                                     const char *ctype, char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result rc;
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    rc = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result jd_http_handle(void *cls, struct MHD_Connection *conn,
                                      const char *url, const char *method,
                                      const char *version, const char *upload,
                                      size_t *upload_size, void **state)
{
    jd_http_t *h = cls;
    const char *ctype = "text/plain; charset=utf-8";
    char *body = NULL;
    size_t len = 0;
    int status = 404;
    FILE *out;

    (void)version, (void)upload, (void)upload_size, (void)state;
    if (!(out = open_memstream(&body, &len)))
        return MHD_NO;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        status = 405;
        fputs("method not allowed\n", out);
    } else {
        size_t i = 0;
        while (i < h->ht_nroutes && strcmp(h->ht_routes[i].rt_path, url) != 0)
            i++;
        if (i < h->ht_nroutes)
            status = h->ht_routes[i].rt_fn(h->ht_routes[i].rt_opaque, out, &ctype);
        else
            fputs("not found: try /metrics, /healthz, /readyz\n", out);
    }
    fclose(out);
    return jd_http_reply(conn, status, ctype, body, len);
}

/* Fills `ss` from an IPv4 or IPv6 literal and a port; -1 if not one. */
static int jd_http_addr(const char *address, int port, struct sockaddr_storage *ss,
                        unsigned *flags)
{
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof *ss);
    if (inet_pton(AF_INET, address, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, address, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *flags |= MHD_USE_IPv6;
        return 0;
    }
    return -1;
}

jd_http_t *jd_http_new(const char *address, int port, const jd_http_route_t *routes,
                       size_t nroutes, jd_err_t *err)
{
    struct sockaddr_storage ss;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    jd_http_t *h;

    if (jd_http_addr(address, port, &ss, &flags)) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                   "http.address: '%s' is not an IPv4 or IPv6 address", address);
        return NULL;
    }
    if (!(h = calloc(1, sizeof *h))) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        return NULL;
    }
    h->ht_routes = routes;
    h->ht_nroutes = nroutes;
    h->ht_daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, jd_http_handle, h,
                                    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                    MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!h->ht_daemon) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_IO,
                   "http.port: cannot listen on %s:%d (in use, or not permitted)",
                   address, port);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->ht_daemon,
                                                         MHD_DAEMON_INFO_BIND_PORT);
    h->ht_port = di ? di->port : port;
    JD_INFO("http", "listening on %s:%d (/metrics /healthz /readyz)", address, h->ht_port);
    return h;
}

int jd_http_port(const jd_http_t *h)
{
    return h->ht_port;
}

void jd_http_destroy(jd_http_t *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->ht_daemon);
    free(h);
}
