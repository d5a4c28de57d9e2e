/*
 * Unit tests for jd_event.c (limits, type names, attribute lookup) and
 * jd_trigger.c (kind/severity names, deterministic trigger ids).
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "jd_event.h"
#include "jd_trigger.h"

Test(event, limits_default)
{
    jd_limits_t lim;
    memset(&lim, 0xff, sizeof lim);
    jd_limits_default(&lim);
    cr_assert_eq(lim.lim_max_message_bytes, 1048576);
    cr_assert_eq(lim.lim_max_string_bytes, 1024);
    cr_assert_eq(lim.lim_max_attributes, 64);
    cr_assert_eq(lim.lim_min_occurred_at, INT64_C(946684800000));  /* 2000-01-01 */
    cr_assert_eq(lim.lim_max_occurred_at, INT64_C(4102444800000)); /* 2100-01-01 */
}

Test(event, type_names_in_enum_order)
{
    static const char *const want[JD_EV__COUNT] = {
        "unknown", "feature_used", "login", "account_created",
        "contract_signed", "kickoff", "go_live", "first_value",
        "value_realized", "account_updated", "nps_response",
        "csat_response", "case_opened", "case_closed", "sponsor_changed",
    };
    for (int t = 0; t < JD_EV__COUNT; t++) {
        cr_assert_str_eq(jd_event_type_name((jd_event_type_t)t), want[t]);
        if (t != JD_EV_UNKNOWN)
            cr_assert_eq((int)jd_event_type_parse(want[t]), t, "%s", want[t]);
    }
}

Test(event, type_parse_unknown_and_edge_cases)
{
    cr_assert_eq(jd_event_type_parse("widget_spun"), JD_EV_UNKNOWN);
    cr_assert_eq(jd_event_type_parse("unknown"), JD_EV_UNKNOWN);
    cr_assert_eq(jd_event_type_parse("Login"), JD_EV_UNKNOWN); /* exact match */
    cr_assert_eq(jd_event_type_parse("login "), JD_EV_UNKNOWN);
    cr_assert_eq(jd_event_type_parse(""), JD_EV_UNKNOWN);
    cr_assert_eq(jd_event_type_parse(NULL), JD_EV_UNKNOWN);
    cr_assert_str_eq(jd_event_type_name(JD_EV__COUNT), "unknown");
    cr_assert_str_eq(jd_event_type_name((jd_event_type_t)-3), "unknown");
}

Test(event, attr_lookup)
{
    jd_attr_t at[] = {{"segment", "smb"}, {"seats", "12"}, {"plan", ""}};
    jd_event_t ev = {.ev_attr_cnt = 3, .ev_attrs = at};
    cr_assert_str_eq(jd_event_attr(&ev, "seats"), "12");
    cr_assert_str_eq(jd_event_attr(&ev, "segment"), "smb");
    cr_assert_str_eq(jd_event_attr(&ev, "plan"), "");
    cr_assert_null(jd_event_attr(&ev, "seat"));
    cr_assert_null(jd_event_attr(&ev, NULL));
    cr_assert_null(jd_event_attr(NULL, "seats"));
    jd_event_t empty = {0};
    cr_assert_null(jd_event_attr(&empty, "seats"));
}

Test(trigger, kind_names)
{
    cr_assert_str_eq(jd_kind_symbol(JD_KIND_RISK), "RISK");
    cr_assert_str_eq(jd_kind_symbol(JD_KIND_RENEWAL_READINESS), "RENEWAL_READINESS");
    cr_assert_str_eq(jd_kind_symbol(JD_KIND_EXPANSION), "EXPANSION");
    cr_assert_str_eq(jd_kind_name(JD_KIND_RISK), "risk");
    cr_assert_str_eq(jd_kind_name(JD_KIND_RENEWAL_READINESS), "renewal_readiness");
    cr_assert_str_eq(jd_kind_name(JD_KIND_EXPANSION), "expansion");
    cr_assert_str_eq(jd_kind_symbol(JD_KIND__COUNT), "UNKNOWN");
    cr_assert_str_eq(jd_kind_name((jd_kind_t)-1), "unknown");
    for (int k = 0; k < JD_KIND__COUNT; k++) {
        cr_assert_eq(jd_kind_parse(jd_kind_name(k)), k);
        cr_assert_eq(jd_kind_parse(jd_kind_symbol(k)), k);
    }
    cr_assert_eq(jd_kind_parse("Renewal_Readiness"), JD_KIND_RENEWAL_READINESS);
    cr_assert_eq(jd_kind_parse("renewal"), -1);
    cr_assert_eq(jd_kind_parse(""), -1);
    cr_assert_eq(jd_kind_parse(NULL), -1);
}

Test(trigger, severity_names)
{
    static const char *const sym[] = {"LOW", "MEDIUM", "HIGH", "CRITICAL"};
    static const char *const low[] = {"low", "medium", "high", "critical"};
    for (int s = 0; s < JD_SEV__COUNT; s++) {
        cr_assert_str_eq(jd_severity_symbol(s), sym[s]);
        cr_assert_eq(jd_severity_parse(low[s]), s);
        cr_assert_eq(jd_severity_parse(sym[s]), s);
    }
    cr_assert_eq(jd_severity_parse("HiGh"), JD_SEV_HIGH);
    cr_assert_eq(jd_severity_parse("urgent"), -1);
    cr_assert_eq(jd_severity_parse("hig"), -1);
    cr_assert_eq(jd_severity_parse(NULL), -1);
    cr_assert_str_eq(jd_severity_symbol(JD_SEV__COUNT), "UNKNOWN");
}

static int is_lower_hex(const char *s)
{
    for (; *s; s++) {
        if (!isxdigit((unsigned char)*s) || isupper((unsigned char)*s))
            return 0;
    }
    return 1;
}

Test(trigger, make_id_format_and_determinism)
{
    char a[JD_TRIGGER_ID_LEN + 1], b[JD_TRIGGER_ID_LEN + 1];
    memset(a, 'x', sizeof a);
    jd_trigger_make_id(a, "acct-42", "risk.silent_admins", 3);
    cr_assert_eq(strlen(a), JD_TRIGGER_ID_LEN);
    cr_assert(is_lower_hex(a), "%s", a);
    jd_trigger_make_id(b, "acct-42", "risk.silent_admins", 3);
    cr_assert_str_eq(a, b);
}

Test(trigger, make_id_changes_with_every_input)
{
    char base[33], x[33];
    jd_trigger_make_id(base, "acct-42", "rule", 1);
    jd_trigger_make_id(x, "acct-42", "rule", 2);
    cr_assert_str_neq(base, x);
    jd_trigger_make_id(x, "acct-43", "rule", 1);
    cr_assert_str_neq(base, x);
    jd_trigger_make_id(x, "acct-42", "rulf", 1);
    cr_assert_str_neq(base, x);
    /* the separators keep field boundaries apart */
    char p[33], q[33];
    jd_trigger_make_id(p, "ab", "c", 1);
    jd_trigger_make_id(q, "a", "bc", 1);
    cr_assert_str_neq(p, q);
    jd_trigger_make_id(p, "a", "b1", 1);
    jd_trigger_make_id(q, "a", "b", 11);
    cr_assert_str_neq(p, q);
}

/* The id is a public contract: it must equal XXH3-128 (canonical, i.e.
 * big-endian hex) of "account\x1frule\x1fepisode", computed here with the
 * one-shot API, and must never change between releases (pinned value). */
Test(trigger, make_id_definition_is_frozen)
{
    static const char bytes[] = "acct-42\x1f" "risk.silent_admins\x1f" "18446744073709551615";
    XXH128_hash_t h = XXH3_128bits(bytes, sizeof bytes - 1);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, h);
    char want[33];
    for (int i = 0; i < 16; i++)
        snprintf(want + 2 * i, 3, "%02x", c.digest[i]);

    char got[33];
    jd_trigger_make_id(got, "acct-42", "risk.silent_admins", UINT64_MAX);
    cr_assert_str_eq(got, want);

    jd_trigger_make_id(got, "acct-1", "r", 0);
    cr_assert_str_eq(got, "9a4f1cb5a8a66d81518f29b91a693205");
    jd_trigger_make_id(got, NULL, NULL, 5); /* NULL strings count as "" */
    cr_assert_str_eq(got, "5d34e0dd3123b94aa7155854b9cb2cdd");
}
