/*
 * jd_bench: the bench suite's shared helpers (clocks, CPU and memory
 * accounting, one-line JSON results, Redis INFO counters, workload
 * generators, the embedded-cluster plumbing every mode needs).
 *
 * Every bench program links journeyd_core and calls its public headers, so
 * what is measured is the code that ships, never a copy. Each mode prints
 * exactly one JSON object per measurement on stdout (one line); progress and
 * logs go to stderr. bench/report.py turns those lines into the table, the
 * JSON file and the plot.
 *
 * Threads: helpers are called from the thread that owns the object passed
 * in; nothing here is shared unless stated.
 */
#ifndef JD_BENCH_H
#define JD_BENCH_H

#include <hiredis.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "jd_arena.h"
#include "jd_codec.h"
#include "jd_config.h"
#include "jd_event.h"
#include "jd_sim.h"

/* ---- clocks and resources ---------------------------------------------- */

/* Monotonic seconds (for rates). */
double jd_bench_now(void);
/* Wall clock in microseconds since the epoch (comparable across processes
 * on this machine; Kafka timestamps are wall-clock milliseconds). */
int64_t jd_bench_wall_us(void);
/* User + system CPU seconds of this process, every thread included. */
double jd_bench_cpu_self(void);
/* Peak resident set size of this process in MiB (getrusage ru_maxrss). */
double jd_bench_peak_rss_mib(void);
/* User + system CPU seconds of another process (from /proc), or -1. */
double jd_bench_cpu_pid(int pid);
/* Sleeps for `s` seconds (fractions allowed). */
void jd_bench_sleep(double s);

/* ---- one-line JSON ------------------------------------------------------- */

typedef struct jd_bench_json {
    char   js_buf[16384];
    size_t js_len;
    int    js_first;
} jd_bench_json_t;

void jd_bench_json_begin(jd_bench_json_t *js, const char *mode, const char *label);
void jd_bench_json_num(jd_bench_json_t *js, const char *key, double v);
void jd_bench_json_int(jd_bench_json_t *js, const char *key, long long v);
void jd_bench_json_str(jd_bench_json_t *js, const char *key, const char *v);
/* Adds "key": <raw JSON text> (an object or array built by the caller). */
void jd_bench_json_raw(jd_bench_json_t *js, const char *key, const char *raw);
/* Closes the object and prints it as one line on stdout. */
void jd_bench_json_end(jd_bench_json_t *js);

/* ---- percentiles --------------------------------------------------------- */

/* Sorts v[0..n) and returns the q-quantile (0 <= q <= 1, nearest rank). */
double jd_bench_quantile(double *v, size_t n, double q);

/* Copies src's strings and attributes into ar (dst points into it). */
void jd_bench_event_copy(jd_arena_t *ar, jd_event_t *dst, const jd_event_t *src);

/* The micro-benchmark of the state engine's per-event step (jd_bench_engine.c):
 * `events` jd_sim events of `accounts` accounts over `days` days, each
 * applied to its in-memory record and decided (jd_step_event). Prints one
 * JSON line; 0 or 1. */
struct jd_ruleset;
int jd_bench_micro_engine(const jd_config_t *cf, const struct jd_ruleset *rs, int accounts,
                          int days, size_t events);

/* The micro-benchmark of mapped upstream records (jd_bench_mapped.c): n
 * Segment-style track calls decoded through the example mapping by the
 * fast path and by avro-c's generic reader, alternately, `reps` times
 * each. Prints one JSON line; 0 or 1. */
int jd_bench_micro_mapped(size_t n, int reps);

/* ---- Redis counters ------------------------------------------------------ */

#define JD_BENCH_MAX_CMDS 64

/* A snapshot of INFO commandstats + cpu + stats. */
typedef struct jd_bench_rstat {
    size_t   rs_n;
    char     rs_name[JD_BENCH_MAX_CMDS][48];
    uint64_t rs_calls[JD_BENCH_MAX_CMDS];
    uint64_t rs_usec[JD_BENCH_MAX_CMDS];
    double   rs_cpu;          /* used_cpu_user + used_cpu_sys */
    uint64_t rs_total_cmds;   /* total_commands_processed */
    double   rs_mem_mib;      /* used_memory */
} jd_bench_rstat_t;

/* Connects to the Redis of `cf` (socket, or host:port); NULL on error
 * (printed). The caller frees it with redisFree(). */
redisContext *jd_bench_redis_connect(const jd_config_t *cf);
/* Takes a snapshot; 0 or -1. */
int jd_bench_rstat_take(redisContext *rc, jd_bench_rstat_t *rs);
/* Calls of `name` ("evalsha") in b minus in a. */
uint64_t jd_bench_rstat_calls(const jd_bench_rstat_t *a, const jd_bench_rstat_t *b,
                              const char *name);
/* Every command's calls and usec in b minus in a, as a JSON object
 * {"evalsha":[calls,usec],...} written into buf. */
void jd_bench_rstat_json(const jd_bench_rstat_t *a, const jd_bench_rstat_t *b,
                         char *buf, size_t cap);
/* Sum of calls over every command in b minus a (what INFO counts: commands
 * run inside scripts included). */
uint64_t jd_bench_rstat_all_calls(const jd_bench_rstat_t *a, const jd_bench_rstat_t *b);

/* MONITOR-based count of the commands clients send (scripts' own commands
 * excluded): a thread with its own connection reads the MONITOR stream. */
typedef struct jd_bench_monitor jd_bench_monitor_t;
jd_bench_monitor_t *jd_bench_monitor_start(const jd_config_t *cf);
/* Stops the thread and returns the counts: client commands, and commands
 * run by scripts; by_cmd gets {"evalsha":N,...} of client commands. */
void jd_bench_monitor_stop(jd_bench_monitor_t *mo, uint64_t *client, uint64_t *in_script,
                           char *by_cmd, size_t cap);

/* ---- decoding ------------------------------------------------------------- */

/* A decoder set up as jd_pipeline sets up its own (jd_decoder_from_config:
 * schemas.wire_format, limits.*, mapping, product_event.avsc under
 * schemas.product_schema_id, schemas.ids.*), without a schema registry
 * client; NULL on error (printed). Free with jd_decoder_destroy(); cf
 * must outlive it. */
jd_decoder_t *jd_bench_decoder(const jd_config_t *cf);

/* ---- Kafka helpers ------------------------------------------------------- */

/* Partition count of `topic`, or -1 (printed). */
int jd_bench_partitions(rd_kafka_t *rk, const char *topic);
/* Sum of high watermarks of `topic` (messages appended since creation). */
int64_t jd_bench_topic_end(rd_kafka_t *rk, const char *topic);

/* ---- workload generators -------------------------------------------------- */

typedef enum jd_bench_gen_kind {
    JD_BENCH_GEN_SIM = 0,   /* jd_sim: the simulator of `journeyd simulate` */
    JD_BENCH_GEN_DISTINCT,  /* one login per account, every account new */
    JD_BENCH_GEN_MIX,       /* jd_sim + a new account with a renewal due
                               in 30 days every `every` events (one
                               renewal_within_90d trigger each) */
} jd_bench_gen_kind_t;

typedef struct jd_bench_gen {
    jd_bench_gen_kind_t bg_kind;
    jd_sim_t           *bg_sim;
    jd_arena_t          bg_arena;
    uint64_t            bg_count;    /* events returned */
    uint64_t            bg_new;      /* MIX: new accounts emitted */
    int                 bg_every;    /* MIX: one new account per N events */
    uint64_t            bg_seed;
    int64_t             bg_last_at;  /* occurred_at of the last sim event */
    jd_attr_t           bg_attrs[3];
    char                bg_id[96], bg_acct[64], bg_date[16];
} jd_bench_gen_t;

/* accounts/days/seed feed jd_sim; `every` is the MIX period. */
int jd_bench_gen_init(jd_bench_gen_t *g, jd_bench_gen_kind_t kind, int accounts,
                      int days, uint64_t seed, int every);
/* Next event (strings valid until the next call). 1, 0 at the end, -1. */
int jd_bench_gen_next(jd_bench_gen_t *g, jd_event_t *ev);
void jd_bench_gen_free(jd_bench_gen_t *g);
/* "sim", "distinct", "mix" -> kind; -1 when unknown. */
int jd_bench_gen_parse(const char *s);

/* ---- the bench producer --------------------------------------------------- */

/* Encodes generated events (Confluent framing with
 * schemas.product_schema_id, like `journeyd simulate`) and produces them
 * keyed by account, optionally at a fixed rate. With recording on, the
 * wall-clock produce time of every event and, from its delivery report,
 * its (partition, offset) are kept, so a trigger's source_partition and
 * source_offset lead back to the moment its event was produced.
 * Threads: one thread drives a producer; its delivery reports run inside
 * the calls below on that thread. */
typedef struct jd_bench_prod {
    rd_kafka_t       *bp_rk;
    rd_kafka_topic_t *bp_rkt;
    jd_encoder_t     *bp_enc;
    jd_buf_t          bp_buf;
    int32_t           bp_schema_id;
    uint64_t          bp_sent, bp_acked, bp_failed;
    int               bp_record;
    size_t            bp_cap;
    int64_t          *bp_t_us;   /* seq -> produce time */
    int32_t          *bp_part;   /* seq -> partition (-1 until acked) */
    int64_t          *bp_off;    /* seq -> offset */
    int               bp_nparts; /* lookup index, built on first lookup */
    int64_t          *bp_base;   /* partition -> lowest recorded offset */
    size_t           *bp_len;
    int64_t         **bp_idx;    /* partition -> offset - base -> time */
} jd_bench_prod_t;

/* `max` bounds the events (and sizes the recording arrays). */
int jd_bench_prod_init(jd_bench_prod_t *bp, const jd_config_t *cf, const char *topic,
                       size_t max, int record);
/* Produces up to `max` events from g at `rate` events/s (0 = as fast as
 * possible) and waits for every delivery. Prints progress every second
 * when `progress`. Returns the number of events sent, or -1. */
int64_t jd_bench_prod_run(jd_bench_prod_t *bp, jd_bench_gen_t *g, size_t max, double rate,
                          int progress, double *seconds);
/* Produce time (wall us) of the event at (partition, offset), or -1. Valid
 * after jd_bench_prod_run; builds an index on first use. */
int64_t jd_bench_prod_lookup(jd_bench_prod_t *bp, int32_t partition, int64_t offset);
void jd_bench_prod_free(jd_bench_prod_t *bp);

/* ---- pipeline stage timing (jd_bench_stages.c, jd_bench only) ---------- */

/* {"poll_wait":[seconds,calls],...,"process_and_rest":[seconds,0]} of the
 * pipeline run so far, stage seconds summed over the pipeline threads;
 * wall_s is the pipeline's first-message-to-end time times the number of
 * pipeline threads. */
void jd_bench_stages_json(double wall_s, char *buf, size_t cap);

/* ---- subcommands ------------------------------------------------------------ */

int jd_bench_cmd_produce(int argc, char **argv);
int jd_bench_cmd_consume(int argc, char **argv);
int jd_bench_cmd_full(int argc, char **argv);
int jd_bench_cmd_latency(int argc, char **argv);

#endif
