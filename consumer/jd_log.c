/*
 * jd_log: formatted, levelled lines on stderr (contract in jd_log.h).
 *
 * The whole line is formatted into a stack buffer first and written with one
 * call, so lines from the librdkafka callback threads and the main thread do
 * not interleave mid-line.
 */
#include "jd_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <jansson.h>

int jd_log_level_current = JD_LOG_INFO;
static int jd_log_json;

static const char *const jd_log_names[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};

int jd_log_level_parse(const char *s)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (s && strcasecmp(s, names[i]) == 0)
            return i;
    return -1;
}

void jd_log_set_level(jd_log_level_t lvl)
{
    jd_log_level_current = (int)lvl;
}

void jd_log_set_json(int json)
{
    jd_log_json = json;
}

/* One JSON object per line; jansson does the escaping. A message that is
 * not valid UTF-8 (bytes from a bad input) has its non-ASCII bytes
 * replaced by '?' rather than losing the line. */
static void jd_log_write_json(const char *ts, jd_log_level_t lvl, const char *mod, char *msg)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    json_t *o;
    char *line;

    o = json_pack("{s:s,s:s,s:s,s:s}", "ts", ts, "level", names[lvl], "module", mod,
                  "msg", msg);
    if (!o) {
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        o = json_pack("{s:s,s:s,s:s,s:s}", "ts", ts, "level", names[lvl], "module", mod,
                      "msg", msg);
    }
    line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (line) {
        size_t n = strlen(line);
        line[n] = '\n';
        fwrite(line, 1, n + 1, stderr);
        line[n] = '\0';
    }
    free(line);
    json_decref(o);
}

void jd_log_write(jd_log_level_t lvl, const char *mod, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    if (lvl < 0 || lvl > 3)
        lvl = JD_LOG_ERROR;
    n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    if (jd_log_json) {
        char msg[2048];
        snprintf(line + n, sizeof line - n, ".%03ldZ", ts.tv_nsec / 1000000L);
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        jd_log_write_json(line, lvl, mod, msg);
        return;
    }
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ %s %s: ",
                          ts.tv_nsec / 1000000L,
                          jd_log_names[lvl < 0 || lvl > 3 ? 0 : lvl], mod);
    va_start(ap, fmt);
    if (n < sizeof line)
        vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    n = strlen(line);
    if (n > sizeof line - 2)
        n = sizeof line - 2;
    line[n] = '\n';
    line[n + 1] = '\0';
    fputs(line, stderr);
}
