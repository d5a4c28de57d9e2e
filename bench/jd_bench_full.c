/*
 * jd_bench_full: `jd_bench full`, the whole journeyd pipeline measured.
 *
 * It is `journeyd run` in-process: the same jd_cli configuration, rules and
 * jd_pipeline_run (decode, per-event apply and rules, publish, the
 * batch's record write, offset store), so every --set knob of journeyd
 * applies. Around it, this file only observes:
 *   - a sampler thread reads the pipeline's message counter every 20 ms
 *     to take the CPU and broker-CPU baselines at the first message (the
 *     group join before it is idle time, not work), to print progress and,
 *     with --count-file, to write the count to a file for a caller that
 *     stops several instances together once they have the whole log (an
 *     instance leaving the group alone would make the others rebalance);
 *   - INFO snapshots before and after give Redis commands per event
 *     (commandstats counts the commands scripts run too), Redis CPU and
 *     memory; with --monitor, a MONITOR reader counts what the client
 *     sends (see jd_bench_util.c). With --no-redis-stats there are none:
 *     with a cluster or several instances one server's INFO is not this
 *     process's cost, so the caller (bench/scale.sh) measures every node.
 * Throughput is the pipeline's own figure: messages / (first message to
 * last batch acknowledged), as in the summary of `journeyd run`.
 *
 * Threads: the pipeline on the main thread; the sampler reads
 * ps_messages with an atomic load (the pipeline writes it with plain
 * stores on x86-64, where an aligned 64-bit load cannot tear) and only
 * writes its own fields.
 */
#include "jd_bench.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "jd_cli.h"
#include "jd_cmd.h"
#include "jd_pipeline.h"

static const char *jd_bench_f_max, *jd_bench_f_idle, *jd_bench_f_label, *jd_bench_f_monitor,
    *jd_bench_f_watch, *jd_bench_f_flush, *jd_bench_f_progress, *jd_bench_f_max_s,
    *jd_bench_f_no_redis, *jd_bench_f_count;
static const jd_cli_flag_t jd_bench_f_flags[] = {
    {"max-events", 1, &jd_bench_f_max, "stop after N messages"},
    {"exit-idle", 1, &jd_bench_f_idle, "stop after N seconds without messages (default 10)"},
    {"label", 1, &jd_bench_f_label, "label in the JSON result"},
    {"monitor", 0, &jd_bench_f_monitor, "count client commands with MONITOR (slows Redis)"},
    {"watch-pid", 1, &jd_bench_f_watch, "also report the CPU of this process (the broker)"},
    {"flush", 0, &jd_bench_f_flush, "FLUSHALL Redis first (a run from empty state)"},
    {"progress", 0, &jd_bench_f_progress, "print progress every 2 s on stderr"},
    {"max-seconds", 1, &jd_bench_f_max_s,
     "stop N seconds after the first message (a bound for slow runs)"},
    {"no-redis-stats", 0, &jd_bench_f_no_redis,
     "no Redis INFO figures (the caller measures Redis: a cluster, or several instances)"},
    {"count-file", 1, &jd_bench_f_count,
     "write the messages consumed so far to FILE every 100 ms (to stop instances together)"},
};
#define JD_BENCH_F_NFLAGS (sizeof jd_bench_f_flags / sizeof *jd_bench_f_flags)

typedef struct jd_bench_sampler {
    pthread_t                  sa_thread;
    const jd_pipeline_stats_t *sa_ps;
    volatile int               sa_stop;
    int                        sa_watch, sa_progress;
    const char                *sa_count;              /* --count-file, or NULL */
    double                     sa_max_s;              /* 0: no deadline */
    double                     sa_t0, sa_cpu0, sa_w0; /* at the first message */
    int64_t                    sa_wall0;              /* wall us of the first message */
} jd_bench_sampler_t;

/* Writes n to path through a renamed temporary file, so a reader never
 * sees a partial number. */
static void jd_bench_count_write(const char *path, uint64_t n)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "%llu\n", (unsigned long long)n);
    if (fclose(f) == 0)
        rename(tmp, path);
}

static void *jd_bench_sampler_main(void *arg)
{
    jd_bench_sampler_t *sa = arg;
    double last = 0, counted = 0;
    while (!sa->sa_stop) {
        uint64_t n = __atomic_load_n(&sa->sa_ps->ps_messages, __ATOMIC_RELAXED);
        double now = jd_bench_now();
        if (n && sa->sa_t0 == 0) {
            sa->sa_t0 = now;
            sa->sa_cpu0 = jd_bench_cpu_self();
            sa->sa_w0 = sa->sa_watch ? jd_bench_cpu_pid(sa->sa_watch) : 0;
            sa->sa_wall0 = jd_bench_wall_us();
            last = now;
        }
        if (sa->sa_max_s > 0 && sa->sa_t0 > 0 && now - sa->sa_t0 >= sa->sa_max_s) {
            jd_pipeline_stop(); /* finishes its batch, then returns */
            sa->sa_max_s = 0;
        }
        if (sa->sa_progress && sa->sa_t0 > 0 && now - last >= 2.0) {
            fprintf(stderr, "bench: full: %llu events (%.0f/s)\n", (unsigned long long)n,
                    (double)n / (now - sa->sa_t0));
            last = now;
        }
        if (sa->sa_count && now - counted >= 0.1) {
            jd_bench_count_write(sa->sa_count, n);
            counted = now;
        }
        jd_bench_sleep(0.02);
    }
    return NULL;
}

/* Redis cost of the run, as JSON fields. */
static void jd_bench_full_redis(jd_bench_json_t *js, const jd_bench_rstat_t *a,
                                const jd_bench_rstat_t *b, double events)
{
    char by[4096];
    double ev = events > 0 ? events : 1;
    jd_bench_json_num(js, "evalsha_per_event",
                      (double)jd_bench_rstat_calls(a, b, "evalsha") / ev);
    jd_bench_json_num(js, "redis_cmds_per_event_incl_script",
                      (double)jd_bench_rstat_all_calls(a, b) / ev);
    jd_bench_json_num(js, "redis_cpu_s_per_m", (b->rs_cpu - a->rs_cpu) / (ev / 1e6));
    jd_bench_json_num(js, "redis_used_memory_mib", b->rs_mem_mib);
    jd_bench_rstat_json(a, b, by, sizeof by);
    jd_bench_json_raw(js, "redis_commandstats", by);
}

static void jd_bench_full_report(const jd_pipeline_stats_t *ps, const jd_bench_sampler_t *sa,
                                 const jd_bench_rstat_t *ra, const jd_bench_rstat_t *rb,
                                 int have_redis, const jd_config_t *cf)
{
    jd_bench_json_t js;
    double m = (double)ps->ps_messages / 1e6;
    jd_bench_json_begin(&js, "full", jd_bench_f_label);
    jd_bench_json_int(&js, "events", (long long)ps->ps_messages);
    jd_bench_json_num(&js, "seconds", ps->ps_seconds);
    jd_bench_json_num(&js, "events_per_s",
                      ps->ps_seconds > 0 ? (double)ps->ps_messages / ps->ps_seconds : 0);
    jd_bench_json_num(&js, "cpu_s_per_m", m > 0 ? (jd_bench_cpu_self() - sa->sa_cpu0) / m : 0);
    if (sa->sa_watch)
        jd_bench_json_num(&js, "broker_cpu_s_per_m",
                          m > 0 ? (jd_bench_cpu_pid(sa->sa_watch) - sa->sa_w0) / m : 0);
    jd_bench_json_num(&js, "peak_rss_mib", jd_bench_peak_rss_mib());
    /* wall-clock span, so concurrent instances can be combined */
    jd_bench_json_num(&js, "t_first", (double)sa->sa_wall0 / 1e6);
    jd_bench_json_num(&js, "t_end", (double)sa->sa_wall0 / 1e6 + ps->ps_seconds);
    jd_bench_json_int(&js, "batches", (long long)ps->ps_batches);
    jd_bench_json_num(&js, "events_per_batch",
                      ps->ps_batches ? (double)ps->ps_messages / (double)ps->ps_batches : 0);
    jd_bench_json_int(&js, "triggers", (long long)ps->ps_triggers);
    jd_bench_json_int(&js, "dead_letters", (long long)ps->ps_dead_letters);
    jd_bench_json_int(&js, "duplicates", (long long)ps->ps_duplicates);
    jd_bench_json_int(&js, "accounts", (long long)ps->ps_accounts);
    jd_bench_json_int(&js, "batch_size", cf->cf_batch_size);
    jd_bench_json_int(&js, "batch_timeout_ms", cf->cf_batch_timeout_ms);
    if (have_redis)
        jd_bench_full_redis(&js, ra, rb, (double)ps->ps_messages);
    char stages[1024];
    jd_bench_stages_json(ps->ps_seconds * (cf->cf_threads > 1 ? cf->cf_threads : 1), stages,
                         sizeof stages);
    jd_bench_json_raw(&js, "stages", stages);
    jd_bench_json_end(&js);
}

/* JSON line of the MONITOR count (client commands vs script commands). */
static void jd_bench_full_monitor(jd_bench_monitor_t *mo, const jd_pipeline_stats_t *ps)
{
    jd_bench_json_t js;
    char by[2048];
    uint64_t client = 0, script = 0;
    double ev = ps->ps_messages ? (double)ps->ps_messages : 1;
    jd_bench_monitor_stop(mo, &client, &script, by, sizeof by);
    jd_bench_json_begin(&js, "redis_client", jd_bench_f_label);
    jd_bench_json_int(&js, "events", (long long)ps->ps_messages);
    jd_bench_json_int(&js, "batches", (long long)ps->ps_batches);
    jd_bench_json_num(&js, "client_cmds_per_event", (double)client / ev);
    jd_bench_json_num(&js, "script_cmds_per_event", (double)script / ev);
    jd_bench_json_num(&js, "client_cmds_per_batch",
                      ps->ps_batches ? (double)client / (double)ps->ps_batches : 0);
    jd_bench_json_raw(&js, "client_cmds", by);
    jd_bench_json_end(&js);
}

static int jd_bench_full_run(jd_cli_t *cli, jd_ruleset_t *rs, long long max, long long idle,
                             long long watch, long long max_s)
{
    jd_pipeline_opts_t po = {max, (int)(idle * 1000), NULL};
    jd_pipeline_stats_t ps;
    jd_bench_sampler_t sa;
    jd_bench_rstat_t ra, rb;
    jd_bench_monitor_t *mo = NULL;
    jd_err_t err;
    redisContext *rc = jd_bench_f_no_redis ? NULL : jd_bench_redis_connect(cli->cl_cf);
    int have = rc != NULL;

    if (rc && jd_bench_f_flush) {
        redisReply *r = redisCommand(rc, "FLUSHALL");
        if (r)
            freeReplyObject(r);
    }
    have = have && jd_bench_rstat_take(rc, &ra) == 0;
    if (jd_bench_f_monitor && !(mo = jd_bench_monitor_start(cli->cl_cf)))
        return 1;
    memset(&ps, 0, sizeof ps);
    memset(&sa, 0, sizeof sa);
    sa.sa_ps = &ps;
    sa.sa_watch = (int)watch;
    sa.sa_progress = jd_bench_f_progress != NULL;
    sa.sa_count = jd_bench_f_count;
    sa.sa_max_s = (double)max_s;
    pthread_create(&sa.sa_thread, NULL, jd_bench_sampler_main, &sa);
    jd_cmd_on_signal(jd_pipeline_stop);
    int prc = jd_pipeline_run(cli->cl_cf, NULL, rs, &po, &ps, &err);
    sa.sa_stop = 1;
    pthread_join(sa.sa_thread, NULL);
    if (prc)
        fprintf(stderr, "bench full: %s\n", err.err_msg);
    if (mo)
        jd_bench_full_monitor(mo, &ps);
    have = have && jd_bench_rstat_take(rc, &rb) == 0;
    jd_bench_full_report(&ps, &sa, &ra, &rb, have, cli->cl_cf);
    free(ps.ps_triggers_by_rule);
    redisFree(rc);
    return prc ? 1 : 0;
}

int jd_bench_cmd_full(int argc, char **argv)
{
    jd_cli_t cli;
    jd_ruleset_t *rs = NULL;
    int rc = 2;

    if (jd_cli_parse(&cli, "bench full", argc, argv, jd_bench_f_flags, JD_BENCH_F_NFLAGS))
        return 2;
    if (cli.cl_help) {
        jd_cli_usage("bench full", "[options]",
                     "Run the journeyd pipeline (as `journeyd run`) and report its cost.",
                     jd_bench_f_flags, JD_BENCH_F_NFLAGS);
        return 0;
    }
    if (jd_cli_config(&cli) || !(rs = jd_cli_rules(&cli)))
        goto out;
    long long max = jd_bench_f_max ? jd_cli_number("max-events", jd_bench_f_max) : 0;
    long long idle = jd_bench_f_idle ? jd_cli_number("exit-idle", jd_bench_f_idle) : 10;
    long long watch = jd_bench_f_watch ? jd_cli_number("watch-pid", jd_bench_f_watch) : 0;
    long long max_s = jd_bench_f_max_s ? jd_cli_number("max-seconds", jd_bench_f_max_s) : 0;
    if (max < 0 || idle < 0 || watch < 0 || max_s < 0)
        goto out;
    rc = jd_bench_full_run(&cli, rs, max, idle, watch, max_s);
out:
    jd_rules_destroy(rs);
    jd_cli_free(&cli);
    return rc;
}
