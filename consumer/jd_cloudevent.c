/*
 * jd_cloudevent: CloudEvents attributes as Kafka headers (contract and the
 * table of attributes in jd_cloudevent.h).
 *
 * The binding's binary mode is the one that leaves the payload alone: an
 * Avro consumer that ignores headers reads the records as before, and a
 * CloudEvents consumer needs nothing but the headers to route them. The
 * attributes are filled when a record is queued and kept with it, so a
 * record sent again after a failed delivery carries the same headers.
 * Everything comes from the record itself or the configuration: ce_time is
 * the decision's event time, not the time of sending, so the headers of a
 * replay are byte for byte those of the first run, as the payloads are.
 */
#include "jd_cloudevent.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "jd_window.h"

static const char jd_ce_avro[] = "application/avro";
static const char jd_ce_octets[] = "application/octet-stream";

static void jd_ce_clear(jd_cloudevent_t *ce, const char *source, const char *content_type)
{
    ce->ce_id[0] = ce->ce_type[0] = ce->ce_time[0] = ce->ce_subject[0] = '\0';
    ce->ce_source = source ? source : "";
    ce->ce_content_type = content_type;
}

static void jd_ce_time(jd_cloudevent_t *ce, int64_t ms)
{
    if (ms >= 0)
        jd_window_format_iso(ms, ce->ce_time, sizeof ce->ce_time);
}

void jd_cloudevent_trigger(jd_cloudevent_t *ce, const jd_trigger_t *tr, const char *source)
{
    jd_ce_clear(ce, source, jd_ce_avro);
    snprintf(ce->ce_id, sizeof ce->ce_id, "%s", tr->tr_id);
    snprintf(ce->ce_type, sizeof ce->ce_type, "io.journeyd.trigger.%s%s",
             tr->tr_shadow ? "shadow." : "", jd_kind_name(tr->tr_kind));
    jd_ce_time(ce, tr->tr_fired_at);
    snprintf(ce->ce_subject, sizeof ce->ce_subject, "%s", tr->tr_account);
}

void jd_cloudevent_stage(jd_cloudevent_t *ce, const jd_stage_event_t *se, const char *source)
{
    jd_ce_clear(ce, source, jd_ce_avro);
    snprintf(ce->ce_id, sizeof ce->ce_id, "%s", se->se_id);
    snprintf(ce->ce_type, sizeof ce->ce_type, "io.journeyd.journey_stage.changed");
    jd_ce_time(ce, se->se_changed_at);
    snprintf(ce->ce_subject, sizeof ce->ce_subject, "%s", se->se_account);
}

/* 1 when key[0..len) is a non-empty run of printable ASCII. */
static int jd_ce_printable(const unsigned char *key, size_t len)
{
    if (!key || !len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (key[i] < 0x20 || key[i] > 0x7e)
            return 0;
    return 1;
}

void jd_cloudevent_dead_letter(jd_cloudevent_t *ce, const char *topic, int32_t partition,
                               int64_t offset, int64_t ts_ms, const void *key, size_t len,
                               const char *source)
{
    jd_ce_clear(ce, source, jd_ce_octets);
    snprintf(ce->ce_id, sizeof ce->ce_id, "%s/%d/%lld", topic ? topic : "", (int)partition,
             (long long)offset);
    snprintf(ce->ce_type, sizeof ce->ce_type, "io.journeyd.dead_letter");
    jd_ce_time(ce, ts_ms);
    if (jd_ce_printable(key, len) && len < sizeof ce->ce_subject) {
        memcpy(ce->ce_subject, key, len);
        ce->ce_subject[len] = '\0';
    }
}

static void jd_ce_put(jd_header_t *h, size_t *n, const char *name, const char *value)
{
    h[*n] = (jd_header_t){name, value, strlen(value)};
    (*n)++;
}

size_t jd_cloudevent_headers(const jd_cloudevent_t *ce, jd_header_t *h)
{
    size_t n = 0;
    jd_ce_put(h, &n, "ce_specversion", "1.0");
    jd_ce_put(h, &n, "ce_id", ce->ce_id);
    jd_ce_put(h, &n, "ce_source", ce->ce_source);
    jd_ce_put(h, &n, "ce_type", ce->ce_type);
    if (ce->ce_time[0])
        jd_ce_put(h, &n, "ce_time", ce->ce_time);
    if (ce->ce_subject[0])
        jd_ce_put(h, &n, "ce_subject", ce->ce_subject);
    jd_ce_put(h, &n, "content-type", ce->ce_content_type);
    return n;
}

/* RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~". */
static int jd_ce_unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

void jd_cloudevent_source(const char *configured, const char *group_id, char *out,
                          size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    if (!cap)
        return;
    if (configured && configured[0]) {
        snprintf(out, cap, "%s", configured);
        return;
    }
    n = (size_t)snprintf(out, cap, "/journeyd/");
    if (n >= cap)
        return;
    for (const unsigned char *p = (const unsigned char *)(group_id ? group_id : ""); *p; p++) {
        if (jd_ce_unreserved(*p) && n + 1 < cap) {
            out[n++] = (char)*p;
        } else if (!jd_ce_unreserved(*p) && n + 3 < cap) {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        } else {
            break;
        }
    }
    out[n] = '\0';
}

int jd_cloudevent_source_check(const char *s, char *why, size_t cap)
{
    size_t len = s ? strlen(s) : 0;
    if (len >= JD_CE_SOURCE_MAX) {
        snprintf(why, cap, "is %zu bytes long; at most %d", len, JD_CE_SOURCE_MAX - 1);
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] > 0x7e) {
            snprintf(why, cap, "has a space, control or non-ASCII byte at offset %zu "
                     "(a URI reference is printable ASCII; percent-encode the rest)", i);
            return -1;
        }
    return 0;
}
