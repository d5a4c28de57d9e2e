/*
 * jd_pipeline: what `journeyd run` is given and gives back (contract in
 * jd_pipeline.h): the stop request and the end-of-run summary around the
 * state engine's loop (consumer/jd_engine.c).
 */
#include "jd_pipeline.h"

#include "jd_engine.h"
#include "jd_redis.h"
#include "jd_wait.h"

void jd_pipeline_stop(void)
{
    jd_wait_request_stop();
}

int jd_pipeline_run(const jd_config_t *cf, const char *bootstrap,
                    const jd_ruleset_t *rs, const jd_pipeline_opts_t *opts,
                    jd_pipeline_stats_t *stats, jd_err_t *err)
{
    return jd_engine_run(cf, bootstrap, rs, opts, stats, err);
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
