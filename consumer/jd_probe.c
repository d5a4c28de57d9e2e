/*
 * jd_probe: Redis readiness probe (contract in jd_probe.h).
 *
 * Design: /readyz used to PING on the HTTP thread, without AUTH, so a
 * password-protected Redis answered NOAUTH and the instance stayed "not
 * ready" forever, and a black-holed Redis held each request for the whole
 * connect timeout. Probing on a thread of its own and caching the result
 * separates the two clocks: the HTTP thread reads a struct under a mutex;
 * the probe thread alone talks to Redis, with its own hiredis connection
 * (kept between probes, dropped after any error and made again on the
 * next probe, so a restarted redis-server is seen within one interval).
 *
 * The result can be at most interval + 3 timeouts old (about 4 s), which
 * is well inside a Kubernetes readiness period. AUTH goes through
 * state/jd_redis_auth, the same code as the pipeline's connections, so
 * the probe accepts exactly the credentials the pipeline accepts, and its
 * error text names keys and users, never the password.
 *
 * Threads: the probe thread owns pr_ctx; pr_lock guards pr_ok, pr_why and
 * pr_stop. Everything else is set before the thread starts.
 */
#include "jd_probe.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jd_redis_auth.h"
#include "jd_secret.h"

struct jd_probe {
    const jd_config_t *pr_cf;
    char              *pr_password;  /* NULL: none */
    redisContext      *pr_ctx;       /* probe thread only */
    pthread_t          pr_thread;
    pthread_mutex_t    pr_lock;
    pthread_cond_t     pr_wake;      /* signalled by destroy */
    int                pr_stop;
    int                pr_ok;        /* -1 not probed yet, 0 down, 1 up */
    char               pr_why[256];  /* reason of the latest failure */
};

/* Connects, authenticates and PINGs; 1 on PONG, else 0 with why. */
static int jd_probe_once(jd_probe_t *pr, char *why, size_t cap)
{
    const jd_config_t *cf = pr->pr_cf;
    int ms = cf->cf_redis_timeout_ms < 1000 ? cf->cf_redis_timeout_ms : 1000;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    redisReply *r = NULL;
    jd_err_t err;
    int ok = 0;

    if (!pr->pr_ctx) {
        pr->pr_ctx = cf->cf_redis_socket[0]
                         ? redisConnectUnixWithTimeout(cf->cf_redis_socket, tv)
                         : redisConnectWithTimeout(cf->cf_redis_host, cf->cf_redis_port, tv);
        if (!pr->pr_ctx || pr->pr_ctx->err) {
            snprintf(why, cap, "redis unreachable (%s)",
                     pr->pr_ctx ? pr->pr_ctx->errstr : "out of memory");
            goto drop;
        }
        redisSetTimeout(pr->pr_ctx, tv);
        if (jd_redis_auth(pr->pr_ctx, cf->cf_redis_user, pr->pr_password, &err) != 0) {
            snprintf(why, cap, "%.200s", err.err_msg);
            goto drop;
        }
    }
    r = redisCommand(pr->pr_ctx, "PING");
    ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    if (!ok)
        snprintf(why, cap, "redis unreachable (%s)",
                 pr->pr_ctx->err ? pr->pr_ctx->errstr
                 : r && r->type == REDIS_REPLY_ERROR ? r->str : "no PONG");
    if (r)
        freeReplyObject(r);
    if (ok)
        return 1;
drop:
    if (pr->pr_ctx)
        redisFree(pr->pr_ctx);
    pr->pr_ctx = NULL;
    return 0;
}

static void *jd_probe_main(void *arg)
{
    jd_probe_t *pr = arg;
    char why[sizeof pr->pr_why];

    pthread_mutex_lock(&pr->pr_lock);
    while (!pr->pr_stop) {
        pthread_mutex_unlock(&pr->pr_lock);
        why[0] = '\0';
        int ok = jd_probe_once(pr, why, sizeof why);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += JD_PROBE_INTERVAL_MS / 1000;
        until.tv_nsec += (long)(JD_PROBE_INTERVAL_MS % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L)
            until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_mutex_lock(&pr->pr_lock);
        pr->pr_ok = ok;
        memcpy(pr->pr_why, why, sizeof why);
        while (!pr->pr_stop &&
               pthread_cond_timedwait(&pr->pr_wake, &pr->pr_lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&pr->pr_lock);
    return NULL;
}

jd_probe_t *jd_probe_new(const jd_config_t *cf, jd_err_t *err)
{
    jd_probe_t *pr = calloc(1, sizeof *pr);
    pthread_condattr_t ca;

    if (!pr) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        return NULL;
    }
    pr->pr_cf = cf;
    pr->pr_ok = -1;
    if (cf->cf_redis_password_file[0])
        pr->pr_password = jd_secret_read("redis.password_file", cf->cf_redis_password_file, err);
    else if (cf->cf_redis_password[0])
        pr->pr_password = strdup(cf->cf_redis_password);
    if ((cf->cf_redis_password_file[0] || cf->cf_redis_password[0]) && !pr->pr_password) {
        if (!cf->cf_redis_password_file[0])
            jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        free(pr);
        return NULL;
    }
    pthread_mutex_init(&pr->pr_lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&pr->pr_wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&pr->pr_thread, NULL, jd_probe_main, pr) != 0) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_IO, "cannot start the readiness probe thread");
        pthread_cond_destroy(&pr->pr_wake);
        pthread_mutex_destroy(&pr->pr_lock);
        jd_secret_free(pr->pr_password);
        free(pr);
        return NULL;
    }
    return pr;
}

void jd_probe_destroy(jd_probe_t *pr)
{
    if (!pr)
        return;
    pthread_mutex_lock(&pr->pr_lock);
    pr->pr_stop = 1;
    pthread_cond_signal(&pr->pr_wake);
    pthread_mutex_unlock(&pr->pr_lock);
    pthread_join(pr->pr_thread, NULL);
    if (pr->pr_ctx)
        redisFree(pr->pr_ctx);
    pthread_cond_destroy(&pr->pr_wake);
    pthread_mutex_destroy(&pr->pr_lock);
    jd_secret_free(pr->pr_password);
    free(pr);
}

int jd_probe_redis(jd_probe_t *pr, char *why, size_t cap)
{
    int ok;
    pthread_mutex_lock(&pr->pr_lock);
    ok = pr->pr_ok;
    if (ok < 0)
        snprintf(why, cap, "redis not probed yet");
    else if (!ok)
        snprintf(why, cap, "%s", pr->pr_why);
    pthread_mutex_unlock(&pr->pr_lock);
    return ok == 1;
}
