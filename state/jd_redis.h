/*
 * jd_redis: a pipelined Redis connection that speaks to one node or to a
 * Redis Cluster through the same calls (hiredis 0.14 knows no cluster).
 *
 * The caller appends commands (jd_redis_append) and then reads their
 * replies in the order it appended them (jd_redis_read). The first read
 * sends the whole pipeline: each command goes to the node that serves the
 * hash slot of its first key (CRC16 of the key's {tag}); keyless commands
 * (SCRIPT LOAD, SCAN, PING) go to the first node, or to the node pinned by
 * jd_redis_append_to. Commands of one node are pipelined in one write and
 * one read. Replies MOVED and ASK re-send the command to the node named
 * (ASK preceded by ASKING); MOVED also marks the slot map stale, and it is
 * read again (CLUSTER SLOTS) before the next send. NOSCRIPT for an EVALSHA
 * whose script was loaded through this connection loads it on that node
 * (SCRIPT LOAD) and re-sends. A command is re-sent at most
 * JD_REDIS_MAX_REDIRECTS times; then its error reply is returned as is.
 * A redirected command did not run, so re-sending never runs it twice.
 *
 * Modes: JD_REDIS_SINGLE never asks for a slot map and returns MOVED/ASK
 * to the caller; JD_REDIS_CLUSTER requires CLUSTER SLOTS to answer;
 * JD_REDIS_AUTO asks once at connect time and uses the cluster path when
 * the server has cluster support enabled.
 *
 * Errors: an I/O error or timeout on any node drops every connection and
 * every pending command and reply (their order can no longer be trusted),
 * sets err (JD_ERR_RETRY/JD_E_REDIS, naming the node) and makes
 * jd_redis_connected false; the caller reconnects and repeats its
 * (idempotent) call. Redis error replies are returned as replies.
 *
 * Ownership: jd_redis_t owns its copy of the configuration, its connections
 * and the formatted commands; replies returned by jd_redis_read belong to
 * the caller (freeReplyObject). Not thread-safe: one jd_redis_t per thread.
 */
#ifndef JD_REDIS_H
#define JD_REDIS_H

#include <hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "jd_err.h"

#define JD_REDIS_SLOTS         16384
#define JD_REDIS_MAX_REDIRECTS 5

typedef enum jd_redis_mode {
    JD_REDIS_AUTO = 0,
    JD_REDIS_SINGLE,
    JD_REDIS_CLUSTER
} jd_redis_mode_t;

typedef struct jd_redis_conf {
    const char     *rc_host;       /* first seed, or the single node */
    int             rc_port;
    const char     *rc_unix_path;  /* single node over a unix socket */
    const char     *rc_seeds;      /* more seeds: "host:port,host:port" */
    const char     *rc_user;       /* AUTH user, or NULL */
    const char     *rc_password;   /* AUTH password, or NULL */
    int             rc_timeout_ms;
    jd_redis_mode_t rc_mode;
} jd_redis_conf_t;

typedef struct jd_redis jd_redis_t;

/* ---- pure helpers ---------------------------------------------------------- */

/* CRC16-CCITT (XMODEM) as Redis Cluster uses it: crc16("123456789") =
 * 0x31C3. */
uint16_t jd_redis_crc16(const char *buf, size_t len);

/* The hash slot of a key: the CRC16 of the bytes between the first '{' and
 * the first '}' after it when there is at least one, else of the whole
 * key, modulo 16384. */
int jd_redis_keyslot(const char *key, size_t len);

/* The slot of a command's first key (EVAL/EVALSHA: the first of KEYS), or
 * -1 for a command without a key. */
int jd_redis_command_slot(int argc, const char *const *argv,
                          const size_t *lens);

/* Parses an error reply "MOVED <slot> <host>:<port>" or "ASK ...".
 * Returns JD_REDIS_MOVED or JD_REDIS_ASK with *slot, host (NUL-terminated,
 * at most cap-1 bytes; empty when Redis left it out) and *port set, or 0
 * when the text is not a well-formed redirection. */
#define JD_REDIS_MOVED 1
#define JD_REDIS_ASK   2
int jd_redis_parse_redirect(const char *s, size_t len, int *slot, char *host,
                            size_t cap, int *port);

/* ---- connection -------------------------------------------------------------- */

/* Copies conf; does not connect. Returns NULL with err (FATAL/JD_E_CONFIG
 * for a malformed seed list, JD_E_NOMEM). */
jd_redis_t *jd_redis_new(const jd_redis_conf_t *conf, jd_err_t *err);

/* Closes every connection and frees rd; accepts NULL. */
void jd_redis_destroy(jd_redis_t *rd);

/* Connects to the first reachable seed, authenticates and, unless in
 * single mode, reads the slot map. Returns 0, JD_ERR_RETRY (no seed
 * reachable) or JD_ERR_FATAL (bad credentials; cluster mode forced on a
 * server without cluster support). */
int jd_redis_connect(jd_redis_t *rd, jd_err_t *err);

/* True between a successful jd_redis_connect and the next error. */
int jd_redis_connected(const jd_redis_t *rd);

/* True when connected in cluster mode. */
int jd_redis_is_cluster(const jd_redis_t *rd);

/* Drops every connection and everything pending. */
void jd_redis_disconnect(jd_redis_t *rd);

/* Appends a command (the arguments are copied). Returns 0, or -1 when out
 * of memory (the pipeline is then unusable: disconnect). */
int jd_redis_append(jd_redis_t *rd, int argc, const char **argv,
                    const size_t *lens);

/* Like jd_redis_append, for a keyless command run on the k-th master
 * (0 <= k < jd_redis_master_count). */
int jd_redis_append_to(jd_redis_t *rd, int k, int argc, const char **argv,
                       const size_t *lens);

/* Masters serving slots (1 in single mode). */
int jd_redis_master_count(const jd_redis_t *rd);

/* ---- counters (process-wide, for the metrics) ----------------------------- */

/* What the connections of this process had to do beyond sending commands,
 * counted over every jd_redis_t since start-up: MOVED and ASK replies
 * followed, EVALSHA re-sent after NOSCRIPT (script loaded on the node),
 * reconnects after a lost connection, slot-map reads after a MOVED. */
typedef enum jd_redis_counter {
    JD_REDIS_C_MOVED = 0,
    JD_REDIS_C_ASK,
    JD_REDIS_C_NOSCRIPT,
    JD_REDIS_C_RECONNECT,
    JD_REDIS_C_MAP_REFRESH,
    JD_REDIS_C__COUNT
} jd_redis_counter_t;

/* The count so far; any thread (relaxed atomics). */
uint64_t jd_redis_count(jd_redis_counter_t c);

/* The next reply, in append order; the first call after appends sends
 * them. Returns 0 with *reply owned by the caller, or JD_ERR_RETRY with err
 * set (everything dropped, see the top of this file). */
int jd_redis_read(jd_redis_t *rd, redisReply **reply, jd_err_t *err);

#endif
