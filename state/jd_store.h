/*
 * jd_store: Redis as the durable store of the state engine (the Redis
 * I/O; what is stored is decided elsewhere).
 *
 * Keys (docs/state.md, "Keys"), T the account id as a hash tag
 * (jd_store_key_tag), P "<topic>:<partition>":
 *   <prefix>:{T}:rec        the account record (jd_record), one string
 *   <prefix>:{T}:sig        the account's current signals for downstream
 *                           readers (a hash; optional, see
 *                           jd_store_batch_record)
 *   <prefix>:part:{P}       the partition's epoch, position and clock (hash)
 *   <prefix>:timers:{P}     the partition's deadline index (zset: score
 *                           deadline ms, member account id)
 *   <prefix>:accounts       every account with a record (set)
 *   <prefix>:<name>         global sets of the rule outcomes
 *
 * Fencing. jd_store_claim increments the partition's epoch (HINCRBY) and
 * reads its position and clock: the claimer's epoch is then the newest.
 * Every write of a batch carries the writer's epoch; state/store.lua
 * writes a record only if the stored record's epoch (its bytes 1..8,
 * big-endian) is not greater, and a partition entry only if the stored
 * epoch is not greater than the writer's (in practice equal: the writer's
 * epoch came from a claim). A refused write is reported per record and
 * per partition, never retried: another instance owns the partition.
 *
 * Round trips. A batch is sent with jd_store_batch_send in one pipelined
 * round trip: on a single node the records go in EVALSHA calls of up to
 * 512 records each, on a cluster one EVALSHA per record (each its own
 * slot), then the partition writes and one SADD of the accounts that are
 * new. jd_store_load reads records with MGET in chunks of 512 keys on a
 * single node, GET per key on a cluster, in one round trip.
 *
 * Errors: connection loss, timeouts and Redis error replies are
 * JD_ERR_RETRY/JD_E_REDIS (every call here may be repeated as is: writes
 * are idempotent); jd_store_new's configuration errors are
 * JD_ERR_FATAL/JD_E_CONFIG. The store connects on first use and again
 * after a lost connection.
 *
 * Ownership: jd_store_t copies its configuration and owns its connection;
 * a jd_store_batch_t owns copies of everything added to it; records
 * returned by jd_store_load belong to the caller (jd_store_recs_free).
 * One thread per jd_store_t.
 */
#ifndef JD_STORE_H
#define JD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "jd_err.h"
#include "jd_redis.h"

typedef struct jd_store_conf {
    const char     *stc_host;          /* default 127.0.0.1 */
    int             stc_port;          /* default 6379 */
    const char     *stc_unix_path;     /* instead of host:port when set */
    const char     *stc_seeds;         /* more cluster seeds, or NULL */
    const char     *stc_user;          /* ACL user, or NULL */
    const char     *stc_password;      /* or NULL */
    const char     *stc_password_file; /* read by jd_store_new when set */
    int             stc_timeout_ms;    /* default 2000 */
    jd_redis_mode_t stc_mode;          /* auto, single, cluster */
    const char     *stc_prefix;        /* default "jd"; no '{' or '}' */
} jd_store_conf_t;

void jd_store_conf_default(jd_store_conf_t *sc);

typedef struct jd_store jd_store_t;

/* Checks and copies sc; connects lazily. NULL with err set. */
jd_store_t *jd_store_new(const jd_store_conf_t *sc, jd_err_t *err);
void jd_store_destroy(jd_store_t *st);

/* Connects now (start-up checks): 0 or a negative jd_err class. */
int jd_store_connect(jd_store_t *st, jd_err_t *err);

/* The account id as a hash tag: '%' as "%25", '}' as "%7D", the empty id
 * as "%00" (injective). Returns the length written (NUL-terminated, cut
 * to cap-1). */
size_t jd_store_key_tag(const char *account, char *buf, size_t cap);

/* ---- partitions -------------------------------------------------------------- */

typedef struct jd_store_claim {
    const char *cl_topic;      /* in */
    int32_t     cl_partition;  /* in */
    uint64_t    cl_epoch;      /* out: this claim's epoch (>= 1) */
    int64_t     cl_position;   /* out: last offset written, -1: none */
    int64_t     cl_clock;      /* out: stored clock, INT64_MIN: none */
} jd_store_claim_t;

/* Claims n partitions in one round trip. Not idempotent (each call is a
 * new epoch): after a JD_ERR_RETRY the caller claims again, which is
 * correct (the newest claim wins). 0 or a negative jd_err class. */
int jd_store_claim(jd_store_t *st, jd_store_claim_t *cl, size_t n, jd_err_t *err);

/* Reads the position and clock of n partitions without claiming them
 * (cl_epoch is set to the stored epoch, 0 for none). */
int jd_store_parts_read(jd_store_t *st, jd_store_claim_t *cl, size_t n, jd_err_t *err);

/* Calls fn for every entry of the partition's deadline index, in
 * deadline order (ZRANGE WITHSCORES, pages of 10000). Returns the number
 * of entries, or a negative jd_err class. */
typedef void (*jd_store_timer_fn)(const char *account, int64_t deadline, void *opaque);
int jd_store_timers_load(jd_store_t *st, const char *topic, int32_t partition,
                         jd_store_timer_fn fn, void *opaque, jd_err_t *err);

/* ---- records ------------------------------------------------------------------ */

typedef struct jd_store_rec {
    unsigned char *sr_data;    /* owned; NULL with sr_len 0: no record */
    size_t         sr_len;
} jd_store_rec_t;

/* Reads the records of ids[0..n) into recs[0..n) (zeroed first) in one
 * round trip. 0 or a negative jd_err class (recs then hold nothing). */
int jd_store_load(jd_store_t *st, const char *const *ids, size_t n, jd_store_rec_t *recs,
                  jd_err_t *err);
void jd_store_recs_free(jd_store_rec_t *recs, size_t n);

/* ---- the batch write ---------------------------------------------------------- */

typedef struct jd_store_timer {
    const char *tm_account;
    int64_t     tm_deadline;   /* 0: removed from the index */
} jd_store_timer_t;

typedef struct jd_store_batch jd_store_batch_t;

/* An empty batch (NULL when out of memory); freed with
 * jd_store_batch_destroy, which accepts NULL. */
jd_store_batch_t *jd_store_batch_new(jd_store_t *st);
void jd_store_batch_destroy(jd_store_batch_t *sb);

/* Empties sb for the next batch, keeping its memory. */
void jd_store_batch_clear(jd_store_batch_t *sb);

/* Adds a record write (copied): data is a jd_record whose bytes 1..8 hold
 * epoch (the fence reads the epoch from those bytes; the epoch argument
 * is not sent). is_new: the account had no record (it joins
 * <prefix>:accounts).
 * sig/sig_n: field/value pairs for <prefix>:{T}:sig (2*sig_n strings),
 * written with the record when sig_n > 0. 0, or -1 when out of memory. */
int jd_store_batch_record(jd_store_batch_t *sb, const char *account, const void *data,
                          size_t len, uint64_t epoch, int is_new,
                          const char *const *sig, size_t sig_n);

/* Adds a partition write: position (-1: keep the stored one), clock
 * (INT64_MIN: keep) and the deadline index changes; fenced by epoch. */
int jd_store_batch_part(jd_store_batch_t *sb, const char *topic, int32_t partition,
                        uint64_t epoch, int64_t position, int64_t clock,
                        const jd_store_timer_t *changes, size_t n);

/* Sends everything added, records before partitions, in one round trip.
 * 0 (refusals are not errors: see below) or a negative jd_err class; may
 * be called again after JD_ERR_RETRY. */
int jd_store_batch_send(jd_store_t *st, jd_store_batch_t *sb, jd_err_t *err);

/* After a send that returned 0: 1 when the i-th record (in the order
 * added) / k-th partition write was refused by the fence. */
int jd_store_batch_record_refused(const jd_store_batch_t *sb, size_t i);
int jd_store_batch_part_refused(const jd_store_batch_t *sb, size_t k);

/* Commands sent and round trips made by this store so far (bench);
 * they include the SCRIPT LOAD of store.lua after each (re)connect. */
uint64_t jd_store_commands(const jd_store_t *st);
uint64_t jd_store_round_trips(const jd_store_t *st);

/* ---- readers and tools ------------------------------------------------------- */

/* Calls fn for every account id in <prefix>:accounts (SSCAN; an id may
 * be seen twice if the set changes meanwhile). 0 or a negative jd_err
 * class. */
typedef void (*jd_store_account_fn)(const char *account, void *opaque);
int jd_store_accounts(jd_store_t *st, jd_store_account_fn fn, void *opaque, jd_err_t *err);

/* SCARD <prefix>:accounts, or a negative jd_err class. */
int64_t jd_store_account_count(jd_store_t *st, jd_err_t *err);

/* SADD <prefix>:<names[i]> members[i] (one SADD per distinct name, all
 * pipelined) / SCARD of names into out (the rule outcome sets). 0 or a negative jd_err class. */
int jd_store_sadd(jd_store_t *st, const char *const *names, const char *const *members,
                  size_t n, jd_err_t *err);
int jd_store_scard(jd_store_t *st, const char *const *names, size_t n, int64_t *out,
                   jd_err_t *err);

/* Deletes every key under the prefix (SCAN + UNLINK on every master):
 * scratch stores only (journeyd replay). Keys deleted, or a negative
 * jd_err class. */
int64_t jd_store_drop_all(jd_store_t *st, jd_err_t *err);

#endif
