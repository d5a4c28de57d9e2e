/*
 * jd_pipeline: what `journeyd run` is given and gives back (contract in
 * jd_pipeline.h): the stop request, the pipeline threads and the
 * end-of-run summary around the state engine's loop (consumer/jd_engine.c).
 *
 * Threads (pipeline.threads). Each thread runs one engine: a member of
 * the consumer group with its own consumer, producer, Redis connection
 * and an equal share of state.cache_mb, as separate instances of the
 * group would be (Kafka Streams' stream threads). Input is keyed by
 * account, so a partition's accounts belong to one thread and the threads
 * share nothing on the hot path: no lock, no hand-off. What they share is
 * the run's budget and progress (jd_engine_share_t). With
 * kafka.group.instance.id set (static membership), thread i > 0 joins as
 * "<id>-<i>". A thread that fails asks the others to stop. The statistics
 * are the sum of the threads' (time: first message of any to last batch
 * of any).
 *
 * Ownership: each thread's configuration is a shallow copy of `cf` with
 * its own cache share and kafka.* array (strings still belong to `cf`,
 * but a renamed group.instance.id, owned by the thread).
 */
#include "jd_pipeline.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_engine.h"
#include "jd_log.h"
#include "jd_redis.h"
#include "jd_wait.h"

typedef struct pl_thread {
    pthread_t                 pt_thread;
    int                       pt_index;
    jd_config_t               pt_cf;
    char                     *pt_instance_id; /* owned, or NULL */
    char                      pt_kbytes[24];  /* its prefetch bound */
    const char               *pt_bootstrap;
    const jd_ruleset_t       *pt_rs;
    const jd_pipeline_opts_t *pt_opts;
    jd_engine_share_t        *pt_share;
    jd_pipeline_stats_t       pt_stats;
    jd_err_t                  pt_err;
    int                       pt_rc;
} pl_thread_t;

void jd_pipeline_stop(void)
{
    jd_wait_request_stop();
}

/* Thread i's configuration: its cache share, its static member id and
 * its share of the prefetch bound (queued.max.messages.kbytes counts one
 * consumer's queue; with n consumers each gets 1/n of it, as of the
 * cache, so the process's prefetch stays what was configured: 1M
 * one-event accounts with two threads peaked ~100 MiB higher without). */
static int pl_thread_conf(pl_thread_t *t, const jd_config_t *cf, int n)
{
    t->pt_cf = *cf;
    t->pt_cf.cf_cache_mb = cf->cf_cache_mb / n > 0 ? cf->cf_cache_mb / n : 1;
    t->pt_cf.cf_kafka = calloc(cf->cf_kafka_cnt ? cf->cf_kafka_cnt : 1, sizeof(jd_kv_t));
    if (!t->pt_cf.cf_kafka)
        return -1;
    for (size_t i = 0; i < cf->cf_kafka_cnt; i++) {
        t->pt_cf.cf_kafka[i] = cf->cf_kafka[i];
        if (t->pt_index && strcmp(cf->cf_kafka[i].kv_key, "group.instance.id") == 0) {
            size_t len = strlen(cf->cf_kafka[i].kv_val) + 16;
            if (!(t->pt_instance_id = malloc(len)))
                return -1;
            snprintf(t->pt_instance_id, len, "%s-%d", cf->cf_kafka[i].kv_val, t->pt_index);
            t->pt_cf.cf_kafka[i].kv_val = t->pt_instance_id;
        }
        if (n > 1 && strcmp(cf->cf_kafka[i].kv_key, "queued.max.messages.kbytes") == 0) {
            long kb = strtol(cf->cf_kafka[i].kv_val, NULL, 10) / n;
            snprintf(t->pt_kbytes, sizeof t->pt_kbytes, "%ld", kb > 0 ? kb : 1);
            t->pt_cf.cf_kafka[i].kv_val = t->pt_kbytes;
        }
    }
    return 0;
}

static void *pl_thread_main(void *arg)
{
    pl_thread_t *t = arg;
    char name[16];
    snprintf(name, sizeof name, "jd-pipeline-%d", t->pt_index);
    pthread_setname_np(pthread_self(), name);
    jd_err_clear(&t->pt_err);
    t->pt_rc = jd_engine_run(&t->pt_cf, t->pt_bootstrap, t->pt_rs, t->pt_opts, t->pt_share,
                             &t->pt_stats, &t->pt_err);
    if (t->pt_rc) {
        JD_ERROR("pipeline", "thread %d stopped on an error (%s): stopping the others",
                 t->pt_index, t->pt_err.err_msg);
        jd_wait_request_stop();
    }
    return NULL;
}

/* Adds thread t's statistics to `ps` (ps_messages is kept by the engines
 * themselves, ps_accounts is the store's count: the largest seen). */
static void pl_stats_add(jd_pipeline_stats_t *ps, const jd_pipeline_stats_t *t, size_t rules)
{
    uint64_t *sum[] = {&ps->ps_events,     &ps->ps_applied,       &ps->ps_duplicates,
                       &ps->ps_late,       &ps->ps_unknown_types, &ps->ps_dead_letters,
                       &ps->ps_batches,    &ps->ps_triggers,      &ps->ps_stage_events,
                       &ps->ps_resolved,   &ps->ps_shadow,        &ps->ps_timer_evals,
                       &ps->ps_replayed,   &ps->ps_fenced,        &ps->ps_forwarded};
    const uint64_t *add[] = {&t->ps_events,     &t->ps_applied,       &t->ps_duplicates,
                             &t->ps_late,       &t->ps_unknown_types, &t->ps_dead_letters,
                             &t->ps_batches,    &t->ps_triggers,      &t->ps_stage_events,
                             &t->ps_resolved,   &t->ps_shadow,        &t->ps_timer_evals,
                             &t->ps_replayed,   &t->ps_fenced,        &t->ps_forwarded};
    for (size_t i = 0; i < sizeof sum / sizeof *sum; i++)
        *sum[i] += *add[i];
    for (int c = 0; c < JD_E__COUNT; c++)
        ps->ps_dlq_by_reason[c] += t->ps_dlq_by_reason[c];
    for (int k = 0; k < JD_KIND__COUNT; k++)
        ps->ps_triggers_by_kind[k] += t->ps_triggers_by_kind[k];
    for (size_t r = 0; ps->ps_triggers_by_rule && t->ps_triggers_by_rule && r < rules; r++)
        ps->ps_triggers_by_rule[r] += t->ps_triggers_by_rule[r];
    if (t->ps_accounts > ps->ps_accounts)
        ps->ps_accounts = t->ps_accounts;
}

/* Starts n threads (fewer when one cannot start: the others are asked to
 * stop), waits for them and sums their statistics. */
static int pl_run_threads(pl_thread_t *th, int n, jd_pipeline_stats_t *stats, size_t rules,
                          jd_err_t *err)
{
    int started = 0, rc = 0;
    for (; started < n; started++)
        if (pthread_create(&th[started].pt_thread, NULL, pl_thread_main, &th[started])) {
            jd_err_set(err, JD_ERR_FATAL, JD_E_INTERNAL, "cannot start pipeline thread %d",
                       started);
            jd_wait_request_stop();
            rc = JD_ERR_FATAL;
            break;
        }
    for (int i = 0; i < started; i++) {
        pthread_join(th[i].pt_thread, NULL);
        pl_stats_add(stats, &th[i].pt_stats, rules);
        if (th[i].pt_rc && !rc) {
            rc = th[i].pt_rc;
            *err = th[i].pt_err;
        }
    }
    return rc;
}

int jd_pipeline_run(const jd_config_t *cf, const char *bootstrap,
                    const jd_ruleset_t *rs, const jd_pipeline_opts_t *opts,
                    jd_pipeline_stats_t *stats, jd_err_t *err)
{
    int n = cf->cf_threads > 0 ? cf->cf_threads : 1, rc = 0;
    size_t rules = jd_rules_count(rs);
    jd_engine_share_t share;
    memset(stats, 0, sizeof *stats);
    memset(&share, 0, sizeof share);
    share.es_total = stats;
    share.es_threads = n;
    stats->ps_triggers_by_rule = calloc(rules ? rules : 1, sizeof(uint64_t));
    pl_thread_t *th = calloc((size_t)n, sizeof *th);
    if (!stats->ps_triggers_by_rule || !th) {
        free(th);
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    }
    jd_wait_clear_stop();
    for (int i = 0; i < n && !rc; i++) {
        th[i] = (pl_thread_t){.pt_index = i, .pt_bootstrap = bootstrap, .pt_rs = rs,
                              .pt_opts = opts, .pt_share = &share};
        if (pl_thread_conf(&th[i], cf, n))
            rc = jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    }
    if (!rc && n > 1)
        JD_INFO("pipeline", "%d pipeline threads, %d MiB of account cache each", n,
                th[0].pt_cf.cf_cache_mb);
    if (!rc)
        rc = pl_run_threads(th, n, stats, rules, err);
    int64_t first = share.es_first_ms, done = share.es_done_ms;
    stats->ps_seconds = first && done > first ? (double)(done - first) / 1000.0 : 0.0;
    for (int i = 0; i < n; i++) {
        free(th[i].pt_stats.ps_triggers_by_rule);
        free(th[i].pt_cf.cf_kafka);
        free(th[i].pt_instance_id);
    }
    free(th);
    return rc ? JD_ERR_FATAL : 0;
}

void jd_pipeline_print_summary(const jd_pipeline_stats_t *ps, const jd_ruleset_t *rs,
                               FILE *out)
{
    fprintf(out, "\n== journeyd summary ==\n");
    fprintf(out, "events consumed      %llu in %.2f s (%.0f events/s)\n",
            (unsigned long long)ps->ps_messages, ps->ps_seconds,
            ps->ps_seconds > 0 ? (double)ps->ps_messages / ps->ps_seconds : 0.0);
    fprintf(out, "decoded              %llu (%llu new, %llu duplicates, %llu of unknown type)\n",
            (unsigned long long)ps->ps_events, (unsigned long long)ps->ps_applied,
            (unsigned long long)ps->ps_duplicates, (unsigned long long)ps->ps_unknown_types);
    if (ps->ps_forwarded)
        fprintf(out, "forwarded            %llu (re-keyed by account)\n",
                (unsigned long long)ps->ps_forwarded);
    fprintf(out, "too late for windows %llu\n", (unsigned long long)ps->ps_late);
    fprintf(out, "dead-lettered        %llu\n", (unsigned long long)ps->ps_dead_letters);
    for (int c = 0; c < JD_E__COUNT; c++)
        if (ps->ps_dlq_by_reason[c])
            fprintf(out, "  %-20s %llu\n", jd_err_code_name((jd_err_code_t)c),
                    (unsigned long long)ps->ps_dlq_by_reason[c]);
    fprintf(out, "accounts in state    %lld\n", (long long)ps->ps_accounts);
    fprintf(out, "batches              %llu\n", (unsigned long long)ps->ps_batches);
    fprintf(out, "triggers published   %llu\n", (unsigned long long)ps->ps_triggers);
    for (int k = 0; k < JD_KIND__COUNT; k++)
        fprintf(out, "  %-20s %llu\n", jd_kind_symbol((jd_kind_t)k),
                (unsigned long long)ps->ps_triggers_by_kind[k]);
    fprintf(out, "resolved published   %llu\n", (unsigned long long)ps->ps_resolved);
    fprintf(out, "shadow triggers      %llu (never on the trigger topics)\n",
            (unsigned long long)ps->ps_shadow);
    fprintf(out, "stage changes        %llu\n", (unsigned long long)ps->ps_stage_events);
    fprintf(out, "timer evaluations    %llu\n", (unsigned long long)ps->ps_timer_evals);
    fprintf(out, "redis redirections   moved %llu, ask %llu; script reloads %llu, reconnects %llu, "
            "slot map refreshes %llu\n",
            (unsigned long long)jd_redis_count(JD_REDIS_C_MOVED),
            (unsigned long long)jd_redis_count(JD_REDIS_C_ASK),
            (unsigned long long)jd_redis_count(JD_REDIS_C_NOSCRIPT),
            (unsigned long long)jd_redis_count(JD_REDIS_C_RECONNECT),
            (unsigned long long)jd_redis_count(JD_REDIS_C_MAP_REFRESH));
    fprintf(out, "by rule\n");
    for (size_t r = 0; rs && r < jd_rules_count(rs); r++)
        fprintf(out, "  %-32s %llu%s\n", jd_rule_id(jd_rules_at(rs, r)),
                (unsigned long long)(ps->ps_triggers_by_rule ? ps->ps_triggers_by_rule[r] : 0),
                jd_rule_is_shadow(jd_rules_at(rs, r)) ? " (shadow)" : "");
}
