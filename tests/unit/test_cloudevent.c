/* jd_cloudevent: the CloudEvents headers of triggers, stage events and dead
 * letters, the default source and its check. */
#include <criterion/criterion.h>
#include <string.h>

#include "jd_cloudevent.h"

/* The value of header `name` among h[0..n), NUL-terminated into buf, or
 * NULL when it is not there. */
static const char *header(const jd_header_t *h, size_t n, const char *name, char *buf,
                          size_t cap)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].hd_name, name) == 0) {
            cr_assert_lt(h[i].hd_len, cap);
            memcpy(buf, h[i].hd_value, h[i].hd_len);
            buf[h[i].hd_len] = '\0';
            return buf;
        }
    return NULL;
}

#define HDR(name) header(h, n, name, buf, sizeof buf)

static void trigger(jd_trigger_t *tr, jd_kind_t kind, int shadow)
{
    memset(tr, 0, sizeof *tr);
    jd_trigger_make_id(tr->tr_id, "acme", "usage_drop", 3);
    snprintf(tr->tr_account, sizeof tr->tr_account, "acme");
    tr->tr_kind = kind;
    tr->tr_shadow = shadow;
    tr->tr_fired_at = 1767225600123; /* 2026-01-01T00:00:00.123Z */
}

Test(cloudevent, trigger_headers_are_every_attribute)
{
    jd_trigger_t tr;
    jd_cloudevent_t ce;
    jd_header_t h[JD_CE_HEADERS];
    char buf[400];
    trigger(&tr, JD_KIND_RISK, 0);
    jd_cloudevent_trigger(&ce, &tr, "/journeyd/prod");
    size_t n = jd_cloudevent_headers(&ce, h);
    cr_assert_eq(n, 7);
    cr_assert_str_eq(HDR("ce_specversion"), "1.0");
    cr_assert_str_eq(HDR("ce_id"), tr.tr_id);
    cr_assert_str_eq(HDR("ce_source"), "/journeyd/prod");
    cr_assert_str_eq(HDR("ce_type"), "io.journeyd.trigger.risk");
    cr_assert_str_eq(HDR("ce_time"), "2026-01-01T00:00:00.123Z");
    cr_assert_str_eq(HDR("ce_subject"), "acme");
    cr_assert_str_eq(HDR("content-type"), "application/avro");
}

Test(cloudevent, kinds_and_shadow_rules_have_their_own_type)
{
    jd_trigger_t tr;
    jd_cloudevent_t ce;
    trigger(&tr, JD_KIND_RENEWAL_READINESS, 0);
    jd_cloudevent_trigger(&ce, &tr, "s");
    cr_assert_str_eq(ce.ce_type, "io.journeyd.trigger.renewal_readiness");
    trigger(&tr, JD_KIND_EXPANSION, 1);
    jd_cloudevent_trigger(&ce, &tr, "s");
    cr_assert_str_eq(ce.ce_type, "io.journeyd.trigger.shadow.expansion");
}

Test(cloudevent, stage_event_headers)
{
    jd_stage_event_t se;
    jd_cloudevent_t ce;
    jd_header_t h[JD_CE_HEADERS];
    char buf[400];
    memset(&se, 0, sizeof se);
    jd_stage_event_make_id(se.se_id, "globex", 2, "adoption", 1767225600000);
    snprintf(se.se_account, sizeof se.se_account, "globex");
    se.se_changed_at = 1767225600000;
    jd_cloudevent_stage(&ce, &se, "/journeyd/x");
    size_t n = jd_cloudevent_headers(&ce, h);
    cr_assert_eq(n, 7);
    cr_assert_str_eq(HDR("ce_id"), se.se_id);
    cr_assert_str_eq(HDR("ce_type"), "io.journeyd.journey_stage.changed");
    cr_assert_str_eq(HDR("ce_time"), "2026-01-01T00:00:00.000Z");
    cr_assert_str_eq(HDR("ce_subject"), "globex");
}

Test(cloudevent, dead_letter_headers_name_the_input_message)
{
    jd_cloudevent_t ce;
    jd_header_t h[JD_CE_HEADERS];
    char buf[400];
    jd_cloudevent_dead_letter(&ce, "product-events", 3, 1234, 1767225600000, "initech", 7,
                              "/journeyd/g");
    size_t n = jd_cloudevent_headers(&ce, h);
    cr_assert_eq(n, 7);
    cr_assert_str_eq(HDR("ce_id"), "product-events/3/1234");
    cr_assert_str_eq(HDR("ce_type"), "io.journeyd.dead_letter");
    cr_assert_str_eq(HDR("ce_subject"), "initech");
    cr_assert_str_eq(HDR("content-type"), "application/octet-stream");
}

Test(cloudevent, optional_attributes_are_left_out_when_unknown)
{
    jd_cloudevent_t ce;
    jd_header_t h[JD_CE_HEADERS];
    char buf[400];
    jd_cloudevent_dead_letter(&ce, "t", 0, 5, -1, "\x01\xff", 2, "s");
    size_t n = jd_cloudevent_headers(&ce, h);
    cr_assert_eq(n, 5);
    cr_assert_null(HDR("ce_time"));
    cr_assert_null(HDR("ce_subject"));
    jd_cloudevent_dead_letter(&ce, "t", 0, 5, -1, NULL, 0, "s");
    cr_assert_eq(jd_cloudevent_headers(&ce, h), 5);
}

Test(cloudevent, default_source_percent_encodes_the_group)
{
    char out[JD_CE_SOURCE_MAX];
    jd_cloudevent_source("", "journeyd", out, sizeof out);
    cr_assert_str_eq(out, "/journeyd/journeyd");
    jd_cloudevent_source(NULL, "cs team/eu", out, sizeof out);
    cr_assert_str_eq(out, "/journeyd/cs%20team%2Feu");
    jd_cloudevent_source("urn:acme:journeyd:prod", "ignored", out, sizeof out);
    cr_assert_str_eq(out, "urn:acme:journeyd:prod");
    jd_cloudevent_source("", "abcdef", out, 14); /* cut, still terminated */
    cr_assert_str_eq(out, "/journeyd/abc");
}

Test(cloudevent, configured_source_is_checked)
{
    char why[160], big[JD_CE_SOURCE_MAX + 1];
    cr_assert_eq(jd_cloudevent_source_check("", why, sizeof why), 0);
    cr_assert_eq(jd_cloudevent_source_check("https://acme.example/journeyd", why, sizeof why), 0);
    cr_assert_eq(jd_cloudevent_source_check("has space", why, sizeof why), -1);
    cr_assert(strstr(why, "offset 3"), "%s", why);
    cr_assert_eq(jd_cloudevent_source_check("tab\there", why, sizeof why), -1);
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cr_assert_eq(jd_cloudevent_source_check(big, why, sizeof why), -1);
    cr_assert(strstr(why, "at most"), "%s", why);
}
