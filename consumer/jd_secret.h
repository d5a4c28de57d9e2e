/*
 * jd_secret: secrets in the configuration - reading them from files,
 * refusing files other users can read, and masking them when printed.
 *
 * Every secret has a `*_file` form: redis.password_file,
 * schemas.registry.password_file and kafka.<property>_file for the
 * librdkafka properties holding a one-line secret (a password, a secret,
 * sasl.oauthbearer.config; e.g. kafka.sasl.password_file, or
 * JOURNEYD_KAFKA_SASL_PASSWORD_FILE from the environment; PEM keys have
 * librdkafka's own ssl.key.location). A secret file must be a regular file that neither its
 * group nor others may read (mode 0600 or 0400): the error says so,
 * naming the key, the path and the mode, never the content.
 *
 * Main thread, at start-up (jd_secret_resolve) or any thread (the pure
 * helpers jd_secret_key and jd_secret_mask_url).
 */
#ifndef JD_SECRET_H
#define JD_SECRET_H

#include <stddef.h>

#include "jd_config.h"
#include "jd_err.h"

/* Text printed instead of a secret. */
#define JD_SECRET_MASK "*****"

/* Reads the first line of the secret file `path` (without its line end)
 * into a new string owned by the caller (free with jd_secret_free).
 * Returns NULL with err (FATAL, JD_E_CONFIG, naming `key`) when the file
 * cannot be read, is not a regular file, is readable by group or others,
 * or has an empty first line. */
char *jd_secret_read(const char *key, const char *path, jd_err_t *err);

/* Checks that `path` is a regular file readable by its owner only (the
 * checks of jd_secret_read, without reading). Returns 0 or FATAL. */
int jd_secret_check(const char *key, const char *path, jd_err_t *err);

/* Overwrites the string and frees it; NULL accepted. */
void jd_secret_free(char *secret);

/* True when the value of the configuration key `key` (a journeyd key or a
 * librdkafka property) is a secret that is never printed. Paths of secret
 * files (keys ending in _file) are not secrets. */
int jd_secret_key(const char *key);

/* Copies `url` into out (cap bytes, always terminated) with its userinfo
 * (the "user:password@" of scheme://user:password@host/...) replaced by
 * JD_SECRET_MASK "@". A string that is not a URL with userinfo is copied
 * unchanged (truncated to cap - 1 bytes). Returns out. */
char *jd_secret_mask_url(const char *url, char *out, size_t cap);

/* Reads the secret files named by cf (schemas.registry.password_file and
 * kafka.*_file into the secrets they stand for; redis.password_file is
 * only checked, state/ reads it when it connects) and refuses a secret
 * set twice (value and file). Run after jd_config_validate. Returns 0 or
 * FATAL with err. */
int jd_secret_resolve(jd_config_t *cf, jd_err_t *err);

#endif
