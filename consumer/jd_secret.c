/*
 * jd_secret: secret files and masking (contract in jd_secret.h).
 *
 * Design: a secret is read once, at start-up, by the main thread, and
 * kept in the configuration like a value given inline, so the code that
 * uses it (librdkafka, curl, the Redis connections) does not know where
 * it came from. The file is opened first and checked with fstat on the
 * open descriptor, so the file checked is the file read. Group or other
 * read permission is refused rather than warned about: a password in a
 * world-readable file is already disclosed to every local account, and a
 * warning in a log nobody reads does not undo that.
 *
 * Masking is by key (jd_secret_key: passwords, secrets, private keys,
 * OAuth and JAAS configuration) and, for URLs, by shape: the userinfo of
 * any scheme://user:password@host value is replaced, whatever the key.
 *
 * Threads: jd_secret_resolve on the main thread at start-up; the other
 * functions touch no shared state.
 */
#include "jd_secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opens `path` and checks it; returns the descriptor or -1 with err. */
static int jd_secret_open(const char *key, const char *path, jd_err_t *err)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG, "%s: cannot read %s: %s", key, path,
                   strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG, "%s: %s is not a regular file", key, path);
        close(fd);
        return -1;
    }
    if (st.st_mode & (S_IRGRP | S_IROTH)) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                   "%s: %s is readable by %s (mode %04o); a secret file must be readable "
                   "by its owner only: chmod 600 %s", key, path,
                   (st.st_mode & S_IRGRP) && (st.st_mode & S_IROTH) ? "group and others"
                   : (st.st_mode & S_IRGRP)                         ? "group"
                                                                    : "others",
                   (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return -1;
    }
    return fd;
}

int jd_secret_check(const char *key, const char *path, jd_err_t *err)
{
    int fd = jd_secret_open(key, path, err);
    if (fd < 0)
        return JD_ERR_FATAL;
    close(fd);
    return 0;
}

char *jd_secret_read(const char *key, const char *path, jd_err_t *err)
{
    char buf[4096];
    ssize_t n;
    size_t len = 0;
    int fd = jd_secret_open(key, path, err);

    if (fd < 0)
        return NULL;
    while (len < sizeof buf - 1 &&
           (n = read(fd, buf + len, sizeof buf - 1 - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG, "%s: cannot read %s: %s", key, path,
                       strerror(errno));
            close(fd);
            return NULL;
        }
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    char *s = buf[0] ? strdup(buf) : NULL;
    if (!buf[0])
        jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG, "%s: the first line of %s is empty", key,
                   path);
    else if (!s)
        jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    explicit_bzero(buf, sizeof buf);
    return s;
}

void jd_secret_free(char *secret)
{
    if (!secret)
        return;
    explicit_bzero(secret, strlen(secret));
    free(secret);
}

int jd_secret_key(const char *key)
{
    size_t n = strlen(key);
    if (n >= 5 && (strcmp(key + n - 5, "_file") == 0 || strcmp(key + n - 5, ".file") == 0))
        return 0;
    return strcasestr(key, "password") || strcasestr(key, "secret") ||
           strcasestr(key, "bearer_token") ||
           strcasestr(key, "sasl.oauthbearer.config") || strcasestr(key, "ssl.key.pem") ||
           strcasestr(key, "ssl_key") || strcasestr(key, "sasl.jaas");
}

char *jd_secret_mask_url(const char *url, char *out, size_t cap)
{
    const char *auth = strstr(url, "://");
    const char *end, *at = NULL;

    if (auth) {
        auth += 3;
        end = auth + strcspn(auth, "/?#");
        for (const char *p = auth; p < end; p++)
            if (*p == '@')
                at = p;
    }
    if (at)
        snprintf(out, cap, "%.*s" JD_SECRET_MASK "%s", (int)(auth - url), url, at);
    else
        snprintf(out, cap, "%s", url);
    return out;
}

/* kafka.<property>_file (or <property>.file, the environment's spelling)
 * of a one-line secret property (a password, a secret, the OAUTHBEARER
 * config): reads the file into kafka.<property>. Returns 1 when entry i was such a
 * key (and is gone), 0 when it was not, -1 on error. */
static int jd_secret_kafka_file(jd_config_t *cf, size_t i, jd_err_t *err)
{
    const char *k = cf->cf_kafka[i].kv_key;
    size_t n = strlen(k);
    char stem[256], key[300], path[4096];

    if (n <= 5 || n - 5 >= sizeof stem ||
        (strcmp(k + n - 5, "_file") != 0 && strcmp(k + n - 5, ".file") != 0))
        return 0;
    snprintf(stem, sizeof stem, "%.*s", (int)(n - 5), k);
    /* one-line secrets only: a PEM key has librdkafka's ssl.key.location */
    if (!strstr(stem, "password") && !strstr(stem, "secret") &&
        strcmp(stem, "sasl.oauthbearer.config") != 0)
        return 0;
    snprintf(key, sizeof key, "kafka.%s_file", stem);
    snprintf(path, sizeof path, "%s", cf->cf_kafka[i].kv_val);
    free(cf->cf_kafka[i].kv_key);
    free(cf->cf_kafka[i].kv_val);
    memmove(&cf->cf_kafka[i], &cf->cf_kafka[i + 1],
            (cf->cf_kafka_cnt - i - 1) * sizeof *cf->cf_kafka);
    cf->cf_kafka_cnt--;
    const char *inline_val = jd_config_kafka(cf, stem);
    if (inline_val && *inline_val) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                   "kafka.%s and %s are both set: keep one", stem, key);
        return -1;
    }
    char *secret = jd_secret_read(key, path, err);
    if (!secret)
        return -1;
    char target[300];
    snprintf(target, sizeof target, "kafka.%s", stem);
    int rc = jd_config_set(cf, target, secret, key, err);
    jd_secret_free(secret);
    return rc ? -1 : 1;
}

/* One registry secret given by file: read into `target` (which must not
 * be set too). */
static int jd_secret_registry_one(jd_config_t *cf, const char *key, const char *path,
                                  const char *target, const char *inline_val, jd_err_t *err)
{
    if (!path[0])
        return 0;
    if (inline_val[0])
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "%s and %s are both set: keep one", target, key);
    char *secret = jd_secret_read(key, path, err);
    if (!secret)
        return JD_ERR_FATAL;
    int rc = jd_config_set(cf, target, secret, key, err);
    jd_secret_free(secret);
    return rc ? JD_ERR_FATAL : 0;
}

static int jd_secret_registry(jd_config_t *cf, jd_err_t *err)
{
    if (jd_secret_registry_one(cf, "schemas.registry.password_file", cf->cf_registry_password_file,
                               "schemas.registry.password", cf->cf_registry_password, err) ||
        jd_secret_registry_one(cf, "schemas.registry.bearer_token_file",
                               cf->cf_registry_bearer_file, "schemas.registry.bearer_token",
                               cf->cf_registry_bearer, err))
        return JD_ERR_FATAL;
    if (cf->cf_registry_bearer[0] && cf->cf_registry_username[0])
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "schemas.registry.bearer_token and schemas.registry.username are both "
                          "set: the registry takes one kind of auth, bearer or basic");
    return 0;
}

int jd_secret_resolve(jd_config_t *cf, jd_err_t *err)
{
    if (cf->cf_redis_password_file[0] &&
        jd_secret_check("redis.password_file", cf->cf_redis_password_file, err))
        return JD_ERR_FATAL;
    if (jd_secret_registry(cf, err))
        return JD_ERR_FATAL;
    for (size_t i = 0; i < cf->cf_kafka_cnt;) {
        int rc = jd_secret_kafka_file(cf, i, err);
        if (rc < 0)
            return JD_ERR_FATAL;
        if (rc == 0)
            i++;
    }
    return 0;
}
