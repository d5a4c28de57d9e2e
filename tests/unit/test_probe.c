/*
 * Readiness probe: authenticates (password, ACL user, password file),
 * reports Redis's refusal without the credential, and never makes the
 * caller wait - not even on a Redis that accepts connections and never
 * answers.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "jd_config.h"
#include "jd_probe.h"
#include "redis_srv.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Polls the probe for up to 5 s until its answer is `want`; each call
 * must return at once. */
static int wait_result(jd_probe_t *pr, int want, char *why, size_t cap)
{
    for (int i = 0; i < 250; i++) {
        int64_t t0 = now_ms();
        int ok = jd_probe_redis(pr, why, cap);
        cr_assert_lt(now_ms() - t0, 50, "jd_probe_redis waited for Redis");
        if (ok == want && (ok || strcmp(why, "redis not probed yet") != 0))
            return 1;
        usleep(20000);
    }
    return 0;
}

static jd_config_t *conf(int port)
{
    jd_config_t *cf = jd_config_new();
    jd_err_t err;
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    cr_assert_eq(jd_config_set(cf, "redis.port", p, "t", &err), 0);
    return cf;
}

static void redis_cmd(const srv_t *s, const char *fmt, const char *a)
{
    redisContext *c = raw_connect(s);
    cr_assert(c && !c->err);
    redisReply *r = redisCommand(c, "AUTH %s", "probe-pw");
    freeReplyObject(r);
    r = redisCommand(c, fmt, a);
    cr_assert(r && r->type != REDIS_REPLY_ERROR, "%s", r ? r->str : "no reply");
    freeReplyObject(r);
    redisFree(c);
}

Test(probe, authenticates_and_reports_refusals)
{
    srv_t s = {0};
    jd_err_t err;
    char why[256];
    srv_start(&s, 0);
    redis_cmd(&s, "CONFIG SET requirepass %s", "probe-pw");
    redis_cmd(&s, "ACL SETUSER probeuser on >%s ~* &* +@all", "user-pw");

    jd_config_t *cf = conf(s.port);
    jd_probe_t *pr = jd_probe_new(cf, &err);
    cr_assert(pr, "%s", err.err_msg);
    cr_assert(wait_result(pr, 0, why, sizeof why));
    cr_assert(strstr(why, "NOAUTH") && strstr(why, "redis.password"), "%s", why);
    jd_probe_destroy(pr);

    jd_config_set(cf, "redis.password", "wrong-pw", "t", &err);
    cr_assert(pr = jd_probe_new(cf, &err));
    cr_assert(wait_result(pr, 0, why, sizeof why));
    cr_assert(strstr(why, "WRONGPASS"), "%s", why);
    cr_assert_null(strstr(why, "wrong-pw"), "the password is never in a reason");
    jd_probe_destroy(pr);

    jd_config_set(cf, "redis.password", "probe-pw", "t", &err);
    cr_assert(pr = jd_probe_new(cf, &err));
    cr_assert(wait_result(pr, 1, why, sizeof why), "%s", why);
    jd_probe_destroy(pr);

    char path[64];
    snprintf(path, sizeof path, "/tmp/jd-probe-%d.pw", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs("user-pw\n", f);
    fclose(f);
    chmod(path, 0600);
    jd_config_set(cf, "redis.password", "", "t", &err);
    jd_config_set(cf, "redis.user", "probeuser", "t", &err);
    jd_config_set(cf, "redis.password_file", path, "t", &err);
    cr_assert(pr = jd_probe_new(cf, &err), "%s", err.err_msg);
    cr_assert(wait_result(pr, 1, why, sizeof why), "%s", why);

    /* Redis goes away: not ready within about one interval, and back. */
    int port = s.port;
    srv_stop(&s);
    cr_assert(wait_result(pr, 0, why, sizeof why));
    cr_assert(strstr(why, "unreachable"), "%s", why);
    s = (srv_t){.port = port};
    srv_start(&s, 0);
    redis_cmd(&s, "CONFIG SET requirepass %s", "probe-pw");
    redis_cmd(&s, "ACL SETUSER probeuser on >%s ~* &* +@all", "user-pw");
    cr_assert(wait_result(pr, 1, why, sizeof why), "%s", why);
    jd_probe_destroy(pr);
    unlink(path);
    jd_config_destroy(cf);
    srv_stop(&s);
}

Test(probe, a_silent_redis_never_blocks_the_caller)
{
    srv_t s = {0};
    jd_err_t err;
    char why[256];
    srv_start(&s, 0);
    jd_config_t *cf = conf(s.port);
    jd_config_set(cf, "redis.timeout_ms", "30000", "t", &err);
    jd_probe_t *pr = jd_probe_new(cf, &err);
    cr_assert(pr);
    cr_assert(wait_result(pr, 1, why, sizeof why), "%s", why);

    kill(s.pid, SIGSTOP); /* accepts nothing, answers nothing */
    int64_t t0 = now_ms();
    cr_assert(wait_result(pr, 0, why, sizeof why), "a frozen Redis is not ready");
    cr_assert_lt(now_ms() - t0, 3500, "probe timeout is capped at 1 s (took %lld ms)",
                 (long long)(now_ms() - t0));
    kill(s.pid, SIGCONT);
    cr_assert(wait_result(pr, 1, why, sizeof why), "%s", why);
    int64_t t1 = now_ms();
    kill(s.pid, SIGSTOP);
    jd_probe_destroy(pr); /* joins within one probe timeout */
    cr_assert_lt(now_ms() - t1, 2500);
    kill(s.pid, SIGCONT);
    jd_config_destroy(cf);
    srv_stop(&s);
}
