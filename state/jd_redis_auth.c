/*
 * jd_redis_auth: Redis AUTH and password files (contract in
 * jd_redis_auth.h).
 *
 * AUTH is sent with redisCommandArgv, so a password may hold spaces or
 * any byte. A refused AUTH is a configuration error, not an outage: it is
 * reported once and stops the process instead of being retried forever
 * (which would look like Redis being down). The password buffer is wiped
 * before it is freed so it does not linger in freed heap memory.
 */
#include "jd_redis_auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* No password configured: a PING tells whether the server wants one. It
 * must come before the scripts are loaded, because Redis drops an
 * unauthenticated client that sends a large request without a reply. */
static int jd_redis_probe(redisContext *rc, jd_err_t *err)
{
    redisReply *r = redisCommand(rc, "PING");
    int rc_ = 0;
    if (!r)
        return jd_err_set(err, JD_ERR_RETRY, JD_E_REDIS, "redis PING: %s",
                          rc->errstr[0] ? rc->errstr : "no reply");
    if (r->type == REDIS_REPLY_ERROR && jd_redis_is_noauth(r->str, r->len))
        rc_ = jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                         "redis: %.*s: set redis.password (or redis.password_file, or "
                         "JOURNEYD_REDIS_PASSWORD)", (int)r->len, r->str);
    freeReplyObject(r);
    return rc_;
}

int jd_redis_auth(redisContext *rc, const char *user, const char *password, jd_err_t *err)
{
    const char *argv[3] = {"AUTH", NULL, NULL};
    size_t argvlen[3] = {4, 0, 0};
    int argc = 1;
    redisReply *r;
    int rc_ = 0;

    if (!password || !*password)
        return jd_redis_probe(rc, err);
    if (user && *user) {
        argv[argc] = user;
        argvlen[argc++] = strlen(user);
    }
    argv[argc] = password;
    argvlen[argc++] = strlen(password);
    r = redisCommandArgv(rc, argc, argv, argvlen);
    if (!r)
        return jd_err_set(err, JD_ERR_RETRY, JD_E_REDIS, "redis AUTH: %s",
                          rc->errstr[0] ? rc->errstr : "no reply");
    if (r->type == REDIS_REPLY_ERROR)
        rc_ = jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                         "redis AUTH as %s%s%s refused (check redis.user, redis.password or "
                         "redis.password_file): %.*s",
                         user && *user ? "user '" : "the default user",
                         user && *user ? user : "", user && *user ? "'" : "",
                         (int)r->len, r->str ? r->str : "");
    freeReplyObject(r);
    return rc_;
}

char *jd_redis_password_file(const char *key, const char *path, jd_err_t *err)
{
    char buf[1024];
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG, "%s: cannot read %s: %s", key, path,
                   strerror(errno));
        return NULL;
    }
    if (!fgets(buf, sizeof buf, f))
        buf[0] = '\0';
    fclose(f);
    n = strcspn(buf, "\r\n");
    buf[n] = '\0';
    if (!n) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG, "%s: %s is empty", key, path);
        return NULL;
    }
    char *s = strdup(buf);
    memset(buf, 0, sizeof buf);
    if (!s)
        jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    return s;
}

void jd_redis_secret_free(char *secret)
{
    if (!secret)
        return;
    volatile char *p = secret;
    while (*p)
        *p++ = '\0';
    free(secret);
}

int jd_redis_is_noauth(const char *reply, size_t len)
{
    return reply && len >= 6 && strncmp(reply, "NOAUTH", 6) == 0;
}
