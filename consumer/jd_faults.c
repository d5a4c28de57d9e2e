/*
 * jd_faults: broker fault injection for the embedded cluster (contract in
 * jd_faults.h).
 *
 * The parser is pure (text -> jd_fault_t) and unit-tested; the shell below
 * it turns faults into librdkafka mock calls: rd_kafka_mock_push_request_errors
 * (the mock answers the next N requests of that API with the error, then
 * recovers by itself) and rd_kafka_mock_broker_set_down / _set_up (a down
 * broker closes its connections and refuses new ones). Down times are kept
 * here and ended by jd_faults_tick, so a test only says "down 1 5".
 *
 * The control file is claimed by rename before it is read: a writer that
 * renames its file into place can never be read half-way, and a file that
 * arrives while another is applied simply waits for the next tick.
 * Main thread only.
 */
#include "jd_faults.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "jd_log.h"

static const struct { const char *name; int16_t key; int group; } jd_fault_apis[] = {
    {"produce", 0, 0},         {"fetch", 1, 0},          {"listoffsets", 2, 0},
    {"metadata", 3, 0},        {"offsetcommit", 8, 1},   {"offsetfetch", 9, 1},
    {"findcoordinator", 10, 1},{"joingroup", 11, 1},     {"heartbeat", 12, 1},
    {"syncgroup", 14, 1},      {"initproducerid", 22, 0},
};
#define JD_FAULT_NAPIS (sizeof jd_fault_apis / sizeof jd_fault_apis[0])

/* A librdkafka error by name (without RD_KAFKA_RESP_ERR_) or number. */
static int jd_fault_error(const char *s, int *out)
{
    const struct rd_kafka_err_desc *descs;
    size_t n;
    char *end;
    long v = strtol(s, &end, 10);
    if (*s && !*end) {
        *out = (int)v;
        return 0;
    }
    rd_kafka_get_err_descs(&descs, &n);
    for (size_t i = 0; i < n; i++)
        if (descs[i].name && strcasecmp(descs[i].name, s) == 0 && descs[i].code > 0) {
            *out = descs[i].code;
            return 0;
        }
    return -1;
}

static int jd_fault_number(const char *s, long min, long max, long *out)
{
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int jd_fault_parse_errors(char **w, int nw, jd_fault_t *f, jd_err_t *err)
{
    long count;
    size_t i;
    for (i = 0; i < JD_FAULT_NAPIS && (nw < 2 || strcasecmp(w[1], jd_fault_apis[i].name)); i++)
        ;
    if (nw < 3 || nw > 4 || i == JD_FAULT_NAPIS)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "expected: errors API COUNT [ERROR] with a known API");
    if (jd_fault_number(w[2], 1, 100000, &count))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG, "errors: bad COUNT '%s'", w[2]);
    f->ft_kind = JD_FAULT_ERRORS;
    f->ft_api = jd_fault_apis[i].key;
    f->ft_count = (int)count;
    f->ft_error = jd_fault_apis[i].group ? RD_KAFKA_RESP_ERR_NOT_COORDINATOR
                                         : RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION;
    if (nw == 4 && jd_fault_error(w[3], &f->ft_error))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG, "errors: unknown error '%s'", w[3]);
    return 0;
}

int jd_fault_parse(const char *line, jd_fault_t *f, jd_err_t *err)
{
    char buf[256], *w[6], *save = NULL;
    int nw = 0;
    long v1 = 0, v2 = 0;

    memset(f, 0, sizeof *f);
    snprintf(buf, sizeof buf, "%s", line);
    buf[strcspn(buf, "#\r\n")] = '\0';
    for (char *t = strtok_r(buf, " \t", &save); t && nw < 6; t = strtok_r(NULL, " \t", &save))
        w[nw++] = t;
    if (!nw)
        return 0;
    if (strcmp(w[0], "errors") == 0)
        return jd_fault_parse_errors(w, nw, f, err);
    if (strcmp(w[0], "down") == 0 && nw == 3 && !jd_fault_number(w[1], 1, 1000, &v1) &&
        !jd_fault_number(w[2], 1, 3600, &v2)) {
        f->ft_kind = JD_FAULT_DOWN;
        f->ft_broker = (int32_t)v1;
        f->ft_secs = (int)v2;
        return 0;
    }
    if (strcmp(w[0], "up") == 0 && nw == 2 && !jd_fault_number(w[1], 1, 1000, &v1)) {
        f->ft_kind = JD_FAULT_UP;
        f->ft_broker = (int32_t)v1;
        return 0;
    }
    return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                      "unknown fault '%s' (errors API COUNT [ERROR] | down BROKER SECONDS | "
                      "up BROKER)", line);
}

/* ---- the shell ------------------------------------------------------------ */

#define JD_FAULTS_MAX_DOWN 16

struct jd_faults {
    jd_broker_t *fs_broker;
    char        *fs_path;
    int          fs_count;
    int32_t      fs_down[JD_FAULTS_MAX_DOWN];      /* broker ids now down */
    int64_t      fs_down_until[JD_FAULTS_MAX_DOWN];
};

static int64_t jd_faults_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

jd_faults_t *jd_faults_new(jd_broker_t *b, const char *path)
{
    jd_faults_t *fs = calloc(1, sizeof *fs);
    if (!fs || !(fs->fs_path = strdup(path))) {
        free(fs);
        return NULL;
    }
    fs->fs_broker = b;
    return fs;
}

static void jd_faults_up(jd_faults_t *fs, int32_t broker)
{
    rd_kafka_mock_broker_set_up(jd_broker_mock(fs->fs_broker), broker);
    JD_WARN("faults", "broker %d is up", (int)broker);
    for (int i = 0; i < JD_FAULTS_MAX_DOWN; i++)
        if (fs->fs_down[i] == broker)
            fs->fs_down[i] = 0;
}

static void jd_faults_apply(jd_faults_t *fs, const jd_fault_t *f)
{
    rd_kafka_mock_cluster_t *mc = jd_broker_mock(fs->fs_broker);
    int slot = 0;
    switch (f->ft_kind) {
    case JD_FAULT_ERRORS:
        for (int i = 0; i < f->ft_count; i++)
            rd_kafka_mock_push_request_errors(mc, f->ft_api, 1, (rd_kafka_resp_err_t)f->ft_error);
        JD_WARN("faults", "next %d request(s) of ApiKey %d fail with %s", f->ft_count,
                (int)f->ft_api, rd_kafka_err2name((rd_kafka_resp_err_t)f->ft_error));
        break;
    case JD_FAULT_DOWN:
        while (slot < JD_FAULTS_MAX_DOWN - 1 && fs->fs_down[slot] && fs->fs_down[slot] != f->ft_broker)
            slot++;
        rd_kafka_mock_broker_set_down(mc, f->ft_broker);
        fs->fs_down[slot] = f->ft_broker;
        fs->fs_down_until[slot] = jd_faults_now_ms() + f->ft_secs * 1000LL;
        JD_WARN("faults", "broker %d is down for %d s", (int)f->ft_broker, f->ft_secs);
        break;
    case JD_FAULT_UP:
        jd_faults_up(fs, f->ft_broker);
        break;
    case JD_FAULT_NONE:
        return;
    }
    fs->fs_count++;
}

static void jd_faults_read(jd_faults_t *fs)
{
    char taken[4096], line[256];
    FILE *in;
    snprintf(taken, sizeof taken, "%s.applying", fs->fs_path);
    if (rename(fs->fs_path, taken) != 0)
        return; /* no control file: the usual case */
    if (!(in = fopen(taken, "r")))
        return;
    for (int ln = 1; fgets(line, sizeof line, in); ln++) {
        jd_fault_t f;
        jd_err_t err;
        if (jd_fault_parse(line, &f, &err))
            JD_ERROR("faults", "%s:%d: %s", fs->fs_path, ln, err.err_msg);
        else
            jd_faults_apply(fs, &f);
    }
    fclose(in);
    remove(taken);
}

void jd_faults_tick(jd_faults_t *fs)
{
    int64_t now = jd_faults_now_ms();
    for (int i = 0; i < JD_FAULTS_MAX_DOWN; i++)
        if (fs->fs_down[i] && now >= fs->fs_down_until[i])
            jd_faults_up(fs, fs->fs_down[i]);
    jd_faults_read(fs);
}

int jd_faults_count(const jd_faults_t *fs)
{
    return fs ? fs->fs_count : 0;
}

void jd_faults_destroy(jd_faults_t *fs)
{
    if (!fs)
        return;
    free(fs->fs_path);
    free(fs);
}
