/*
 * jd_http: the operations HTTP server (libmicrohttpd) behind /metrics,
 * /healthz and /readyz.
 *
 * It knows nothing about journeyd: it serves GET requests on a table of
 * exact paths, each answered by a callback that writes the body to a
 * stream and returns the status code. Anything else is 404; any method
 * but GET and HEAD is 405.
 *
 * Threads: libmicrohttpd's internal polling thread runs the callbacks, one
 * request at a time, so a callback must be safe to run beside the
 * pipeline thread (jd_ops's are). jd_http_new/destroy from the main thread.
 *
 * Ownership: the route table and its opaque pointers must outlive the
 * server; jd_http_destroy() (NULL accepted) stops the thread first.
 */
#ifndef JD_HTTP_H
#define JD_HTTP_H

#include <stdio.h>

#include "jd_err.h"

/* Writes the body to `out`, sets *content_type (a static string) and
 * returns the HTTP status. */
typedef int (*jd_http_fn)(void *opaque, FILE *out, const char **content_type);

typedef struct jd_http_route {
    const char *rt_path;
    jd_http_fn  rt_fn;
    void       *rt_opaque;
} jd_http_route_t;

typedef struct jd_http jd_http_t;

/* Listens on address:port (an IPv4 or IPv6 literal; port 0 picks a free
 * one, see jd_http_port). Returns NULL with err set (JD_ERR_FATAL/JD_E_IO,
 * naming http.address/http.port) when it cannot. */
jd_http_t *jd_http_new(const char *address, int port, const jd_http_route_t *routes,
                       size_t nroutes, jd_err_t *err);

/* The port actually bound. */
int jd_http_port(const jd_http_t *h);

void jd_http_destroy(jd_http_t *h);

#endif
