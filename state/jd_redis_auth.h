/*
 * jd_redis_auth: Redis authentication (AUTH password, or AUTH user
 * password for an ACL user) and reading the password from a file.
 *
 * Secrets never appear in an error message: errors name the configuration
 * key and the user, and quote Redis's reply, which does not echo the
 * password. Main thread (the thread that owns the connection).
 */
#ifndef JD_REDIS_AUTH_H
#define JD_REDIS_AUTH_H

#include <hiredis.h>

#include "jd_err.h"

/* Sends AUTH on rc (user NULL or "" = the default user); with no password,
 * sends PING to check that none is required. Returns 0,
 * JD_ERR_FATAL/JD_E_CONFIG when Redis refuses the credentials or wants
 * some, or JD_ERR_RETRY on an I/O error (rc->err is set then). */
int jd_redis_auth(redisContext *rc, const char *user, const char *password, jd_err_t *err);

/* Reads the first line of `path` (without its line end) into a new string
 * owned by the caller (free it with jd_redis_secret_free). Returns NULL
 * with err (FATAL, naming `key`) when the file cannot be read or is empty. */
char *jd_redis_password_file(const char *key, const char *path, jd_err_t *err);

/* Overwrites the secret and frees it; NULL accepted. */
void jd_redis_secret_free(char *secret);

/* True when a Redis error reply means "authentication required". */
int jd_redis_is_noauth(const char *reply, size_t len);

#endif
