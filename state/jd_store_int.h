/*
 * jd_store_int: the state of one store (struct jd_store) and the command
 * building and reply helpers shared by the pieces of jd_store:
 * state/jd_store.c (keys, building commands, replies, connection, life
 * cycle), state/jd_store_read.c (claims, partition reads, timers, record
 * loads), state/jd_store_batch.c (the batched fenced write) and
 * state/jd_store_tools.c (readers and tools). Not for other modules.
 *
 * A call builds a command with jd__store_push* into st_argv (the strings
 * in st_arena), appends it with jd__store_send, and after appending all
 * of them reads every reply with jd__store_read_all or
 * jd__store_roundtrip: one round trip per call.
 *
 * Ownership: jd_store_t owns its jd_redis_t, st_prefix, st_argv and
 * st_arena; replies read by jd__store_read_all belong to the caller
 * (jd__store_free_replies). One thread per jd_store_t.
 */
#ifndef JD_STORE_INT_H
#define JD_STORE_INT_H

#include <hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "jd_arena.h"
#include "jd_store.h"

#define ST_SHA_LEN   40
#define ST_CHUNK     512    /* records per script call, keys per MGET */
#define ST_ROUND_BYTES (2u << 20) /* record bytes per round trip of a batch */
#define ST_ZPAGE     10000  /* deadline index entries per ZRANGE */

struct jd_store {
    char        *st_prefix;
    jd_redis_t  *st_rd;
    char         st_sha[ST_SHA_LEN + 1];  /* store.lua, once loaded */
    jd_arena_t   st_arena;                /* arguments of one command */
    const char **st_argv;                 /* the command being built */
    size_t      *st_argvlen;
    size_t       st_argc;
    size_t       st_argcap;
    int          st_oom;                  /* an allocation failed building it */
    uint64_t     st_commands;             /* appended so far */
    uint64_t     st_round_trips;          /* read loops so far */
};

/* Building a command (jd_store.c). Each sets st_oom instead of failing;
 * jd__store_send then reports it. */
void jd__store_push_mem(jd_store_t *st, const char *s, size_t len);
void jd__store_push(jd_store_t *st, const char *s);
void jd__store_push_i64(jd_store_t *st, int64_t v);
/* Pushes the key "<prefix>:<before>{<tag of src>}<after>". */
void jd__store_push_tagged(jd_store_t *st, const char *before, const char *src,
                           const char *after);
/* Pushes "<prefix>:<what>:{<topic>:<partition>}". */
void jd__store_push_part_key(jd_store_t *st, const char *what, const char *topic,
                             int32_t partition);
/* Pushes "<prefix>:<name>" (the global sets). */
void jd__store_push_global(jd_store_t *st, const char *name);
/* Appends the command built so far (to the k-th master when k >= 0) and
 * starts a new one. 0, or -1 when out of memory. */
int jd__store_send_to(jd_store_t *st, int k);
int jd__store_send(jd_store_t *st);
/* Drops the command built so far (nothing is sent). */
void jd__store_drop(jd_store_t *st);

/* Replies and errors (jd_store.c). The error helpers return the jd_err
 * class they set. */
int jd__store_oom_error(jd_store_t *st, jd_err_t *err, const char *what);
int jd__store_reply_error(const redisReply *r, jd_err_t *err, const char *what);
int jd__store_unexpected(jd_err_t *err, const char *what);
void jd__store_free_replies(redisReply **r, size_t n);
/* Sends what was appended and reads n replies: one round trip. On an I/O
 * error frees what it read and disconnects. */
int jd__store_read_all(jd_store_t *st, redisReply **r, size_t n, const char *what,
                       jd_err_t *err);
/* jd__store_read_all, and any error reply fails the call (the replies are
 * freed then). */
int jd__store_roundtrip(jd_store_t *st, redisReply **r, size_t n, const char *what,
                        jd_err_t *err);
/* A decimal string or integer reply as an int64; dflt for nil. */
int64_t jd__store_reply_i64(const redisReply *r, int64_t dflt);

/* Connection (jd_store.c): loads store.lua into st_sha; connects (and
 * loads it) when not connected. 0 or a negative jd_err class. */
int jd__store_load_script(jd_store_t *st, jd_err_t *err);
int jd__store_ensure(jd_store_t *st, jd_err_t *err);

#endif
