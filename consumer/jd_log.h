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
 * Thread-safe: each line is written with a single fputs on a locked stream.
 */
#ifndef JD_LOG_H
#define JD_LOG_H

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
