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
#include <string.h>
#include <strings.h>
#include <time.h>

int jd_log_level_current = JD_LOG_INFO;

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

void jd_log_write(jd_log_level_t lvl, const char *mod, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
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
