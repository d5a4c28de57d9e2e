/*
 * jd_log: formatted, levelled lines on stderr (contract in jd_log.h).
 *
 * The whole line is formatted into a stack buffer first and written with one
 * call, so lines from the librdkafka callback threads and the main thread do
 * not interleave mid-line.
 *
 * A message carries text from outside (account ids, event types, config
 * values, broker errors), so in text format its control characters are
 * escaped before it reaches the line: an account id "a\n2026-... ERROR x"
 * must not start a second, forged line, and an ESC must not drive the
 * terminal of whoever tails the log. JSON lines get the same from jansson.
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

/* The escape of one character at `p` into `out` (at least 7 bytes), or
 * 0 when it is written as it is; `*len` is how many input bytes it takes. */
static size_t jd_log_escape_one(const unsigned char *p, char *out, size_t *len)
{
    static const char hex[] = "0123456789abcdef";
    *len = 1;
    switch (*p) {
    case '\n': return (size_t)snprintf(out, 7, "\\n");
    case '\r': return (size_t)snprintf(out, 7, "\\r");
    case '\t': return (size_t)snprintf(out, 7, "\\t");
    default: break;
    }
    if (*p < 0x20 || *p == 0x7f)
        return (size_t)snprintf(out, 7, "\\x%c%c", hex[*p >> 4], hex[*p & 15]);
    /* C1 controls (U+0080-U+009F: NEL, CSI) and the Unicode line and
     * paragraph separators, which some viewers also break lines on. */
    if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
        *len = 2;
        return (size_t)snprintf(out, 7, "\\u00%c%c", hex[p[1] >> 4], hex[p[1] & 15]);
    }
    if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
        *len = 3;
        return (size_t)snprintf(out, 7, "\\u202%c", p[2] == 0xa8 ? '8' : '9');
    }
    return 0;
}

size_t jd_log_escape(char *out, size_t cap, const char *in)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t n = 0;

    if (!cap)
        return 0;
    while (*p) {
        char esc[8];
        size_t len, w = jd_log_escape_one(p, esc, &len);
        if (w ? n + w >= cap : n + 1 >= cap)
            break;
        if (w)
            memcpy(out + n, esc, w);
        else
            out[n] = (char)*p;
        n += w ? w : 1;
        p += len;
    }
    out[n] = '\0';
    return n;
}

void jd_log_write(jd_log_level_t lvl, const char *mod, const char *fmt, ...)
{
    char line[2048], msg[2048];
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
    if (n > sizeof line - 2)
        n = sizeof line - 2;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    n += jd_log_escape(line + n, sizeof line - 1 - n, msg);
    line[n] = '\n';
    line[n + 1] = '\0';
    fputs(line, stderr);
}
