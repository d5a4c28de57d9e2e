/*
 * jd_log: the one logging path of journeyd.
 *
 * JD_LOG checks the level before formatting anything, so a disabled debug
 * line costs one integer compare. Lines go to stderr, one per event, as
 * "2026-11-23T10:00:00.123Z INFO  consumer: message", or with log.format
 * json as one JSON object per line:
 * {"ts":"2026-11-23T10:00:00.123Z","level":"info","module":"consumer",
 *  "msg":"message"}. Pure modules (rules,
 * schemas, window math) never log; they return jd_err_t and the shell logs.
 * In text lines control characters of the message are escaped
 * (jd_log_escape), so a value from the input can never start a new line.
 * Thread-safe: each line is written with a single fputs on a locked stream.
 */
#ifndef JD_LOG_H
#define JD_LOG_H

#include <stddef.h>

typedef enum jd_log_level {
    JD_LOG_ERROR = 0,
    JD_LOG_WARN,
    JD_LOG_INFO,
    JD_LOG_DEBUG,
} jd_log_level_t;

extern int jd_log_level_current;

/* Parses "error", "warn", "info", "debug"; -1 if unknown. */
int jd_log_level_parse(const char *s);
void jd_log_set_level(jd_log_level_t lvl);

/* Line format: 0 text (default), 1 JSON lines. Set once at start-up. */
void jd_log_set_json(int json);

/* Copies `in` into `out` (cap bytes, always NUL-terminated when cap > 0)
 * with every character that could end or rewrite a line escaped: \n \r \t
 * as such, other C0 controls and DEL as \xHH, C1 controls and U+2028/2029
 * as \uXXXX. Stops before an escape that would not fit. Returns the length
 * written. Text lines of jd_log_write() go through it; so do messages
 * printed to stderr that quote configuration values. Any thread. */
size_t jd_log_escape(char *out, size_t cap, const char *in);

void jd_log_write(jd_log_level_t lvl, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define JD_LOG(lvl, mod, ...)                                     \
    do {                                                          \
        if ((int)(lvl) <= jd_log_level_current)                   \
            jd_log_write((lvl), (mod), __VA_ARGS__);              \
    } while (0)

#define JD_ERROR(mod, ...) JD_LOG(JD_LOG_ERROR, mod, __VA_ARGS__)
#define JD_WARN(mod, ...)  JD_LOG(JD_LOG_WARN, mod, __VA_ARGS__)
#define JD_INFO(mod, ...)  JD_LOG(JD_LOG_INFO, mod, __VA_ARGS__)
#define JD_DEBUG(mod, ...) JD_LOG(JD_LOG_DEBUG, mod, __VA_ARGS__)

#endif
