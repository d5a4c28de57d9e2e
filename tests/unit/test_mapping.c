/*
 * jd_mapping, pure: configuration errors name the key; required fields;
 * paths checked against writer schemas; extraction through records, maps
 * and unions (null branches, fallback account paths, default account),
 * timestamp units and strptime formats, value from text, attribute limits,
 * event-name translation.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "jd_codec_int.h"
#include "jd_mapping.h"

static const char schema_json[] =
    "{\"type\":\"record\",\"name\":\"Up\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"name\",\"type\":\"string\"},"
    "{\"name\":\"ts\",\"type\":[\"null\",\"long\",\"string\"]},"
    "{\"name\":\"props\",\"type\":{\"type\":\"map\",\"values\":[\"null\",\"string\",\"double\"]}},"
    "{\"name\":\"ctx\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Ctx\",\"fields\":["
    "{\"name\":\"group\",\"type\":[\"null\",\"string\"]}]}]}]}";

typedef struct fx {
    avro_schema_t       schema;
    avro_value_iface_t *cls;
    avro_value_t        rec;
    jd_mapping_t       *mp;
    jd_limits_t         lim;
    jd_arena_t          ar;
    jd_event_t          ev;
    jd_err_t            err;
} fx_t;

static void set(fx_t *f, const char *k, const char *v)
{
    cr_assert_eq(jd_mapping_set(f->mp, k, v, &f->err), 0, "%s: %s", k, f->err.err_msg);
}

static void fx_init(fx_t *f)
{
    avro_value_t v, b;
    memset(f, 0, sizeof *f);
    cr_assert_eq(avro_schema_from_json_length(schema_json, strlen(schema_json), &f->schema), 0,
                 "%s", avro_strerror());
    f->cls = avro_generic_class_from_schema(f->schema);
    cr_assert_eq(avro_generic_value_new(f->cls, &f->rec), 0);
    avro_value_get_by_name(&f->rec, "id", &v, NULL);
    avro_value_set_string(&v, "e1");
    avro_value_get_by_name(&f->rec, "name", &v, NULL);
    avro_value_set_string(&v, "Report Exported");
    avro_value_get_by_name(&f->rec, "ts", &v, NULL);
    avro_value_set_branch(&v, 1, &b);
    avro_value_set_long(&b, 1790000000);                /* seconds */
    avro_value_get_by_name(&f->rec, "props", &v, NULL);
    avro_value_add(&v, "account", &b, NULL, NULL);
    avro_value_set_branch(&b, 1, &b);
    avro_value_set_string(&b, "acme");
    avro_value_add(&v, "score", &b, NULL, NULL);
    avro_value_set_branch(&b, 2, &b);
    avro_value_set_double(&b, 7.5);
    avro_value_get_by_name(&f->rec, "ctx", &v, NULL);
    avro_value_set_branch(&v, 0, &b);                   /* ctx: null */
    f->mp = jd_mapping_new();
    jd_limits_default(&f->lim);
    jd_arena_init(&f->ar, 0);
    set(f, "fields.event_id", "id");
    set(f, "fields.type", "name");
    set(f, "fields.occurred_at", "ts");
    set(f, "fields.account_id", "ctx.group, props.account");
    set(f, "fields.value", "props.score");
    set(f, "fields.attributes", "props");
    set(f, "timestamp.unit", "s");
    set(f, "events.Report Exported.type", "feature_used");
    set(f, "events.Report Exported.feature", "reports.export");
}

static void fx_fini(fx_t *f)
{
    avro_value_decref(&f->rec);
    avro_value_iface_decref(f->cls);
    avro_schema_decref(f->schema);
    jd_mapping_destroy(f->mp);
    jd_arena_destroy(&f->ar);
}

Test(mapping, extracts_through_unions_maps_and_fallbacks)
{
    fx_t f;
    fx_init(&f);
    cr_assert_eq(jd_mapping_check(f.mp, &f.err), 0, "%s", f.err.err_msg);
    cr_assert_eq(jd_mapping_check_schema(f.mp, f.schema, "Up", &f.err), 0, "%s", f.err.err_msg);
    cr_assert_eq(jd_mapping_extract(f.mp, &f.rec, &f.lim, &f.ar, &f.ev, &f.err), 0, "%s",
                 f.err.err_msg);
    cr_assert_str_eq(f.ev.ev_id, "e1");
    cr_assert_str_eq(f.ev.ev_account, "acme", "ctx is null: the second path wins");
    cr_assert_str_eq(f.ev.ev_type_name, "feature_used");
    cr_assert_eq(f.ev.ev_type, JD_EV_FEATURE_USED);
    cr_assert_str_eq(f.ev.ev_feature, "reports.export");
    cr_assert_eq(f.ev.ev_occurred_at, 1790000000000LL, "seconds scaled to ms");
    cr_assert(f.ev.ev_has_value && f.ev.ev_value == 7.5);
    cr_assert_eq(f.ev.ev_attr_cnt, 2);
    cr_assert_str_eq(jd_event_attr(&f.ev, "account"), "acme");
    cr_assert_str_eq(jd_event_attr(&f.ev, "score"), "7.5");
    cr_assert_null(f.ev.ev_user, "unmapped optional field");
    fx_fini(&f);
}

Test(mapping, errors_are_skips_with_the_field)
{
    fx_t f;
    avro_value_t v, b;
    fx_init(&f);
    /* No account at all: missing_field, unless a default applies. */
    avro_value_get_by_name(&f.rec, "props", &v, NULL);
    avro_value_get_by_name(&v, "account", &b, NULL);
    avro_value_set_branch(&b, 0, &b);
    cr_assert_eq(jd_mapping_extract(f.mp, &f.rec, &f.lim, &f.ar, &f.ev, &f.err), JD_ERR_SKIP);
    cr_assert_eq(f.err.err_code, JD_E_MISSING_FIELD);
    cr_assert(strstr(f.err.err_msg, "account_id"), "%s", f.err.err_msg);
    set(&f, "default_account", "unassigned");
    cr_assert_eq(jd_mapping_extract(f.mp, &f.rec, &f.lim, &f.ar, &f.ev, &f.err), 0);
    cr_assert_str_eq(f.ev.ev_account, "unassigned");

    /* A text timestamp with a strptime format; a wrong one is bad_timestamp. */
    avro_value_get_by_name(&f.rec, "ts", &v, NULL);
    avro_value_set_branch(&v, 2, &b);
    avro_value_set_string(&b, "2026-10-02 09:30:00");
    set(&f, "timestamp.format", "%Y-%m-%d %H:%M:%S");
    cr_assert_eq(jd_mapping_extract(f.mp, &f.rec, &f.lim, &f.ar, &f.ev, &f.err), 0, "%s",
                 f.err.err_msg);
    cr_assert_eq(f.ev.ev_occurred_at, 1790933400000LL);
    set(&f, "timestamp.format", "iso8601");
    cr_assert_eq(jd_mapping_extract(f.mp, &f.rec, &f.lim, &f.ar, &f.ev, &f.err), JD_ERR_SKIP);
    cr_assert_eq(f.err.err_code, JD_E_BAD_TIMESTAMP);

    /* Attribute limit. */
    avro_value_set_string(&b, "2026-10-02T09:30:00Z");
    f.lim.lim_max_attributes = 0; /* props.score (account is null now: skipped) */
    cr_assert_eq(jd_mapping_extract(f.mp, &f.rec, &f.lim, &f.ar, &f.ev, &f.err), JD_ERR_SKIP);
    cr_assert_eq(f.err.err_code, JD_E_TOO_MANY_ATTRS);
    fx_fini(&f);
}

Test(mapping, configuration_errors_name_the_key)
{
    jd_mapping_t *mp = jd_mapping_new();
    jd_err_t err;
    cr_assert_eq(jd_mapping_active(mp), 0);
    cr_assert_eq(jd_mapping_check(mp, &err), 0, "an unused mapping is fine");
    cr_assert_neq(jd_mapping_set(mp, "fields.colour", "x", &err), 0);
    cr_assert(strstr(err.err_msg, "mapping.fields.colour"), "%s", err.err_msg);
    cr_assert_neq(jd_mapping_set(mp, "timestamp.unit", "days", &err), 0);
    cr_assert(strstr(err.err_msg, "mapping.timestamp.unit"), "%s", err.err_msg);
    cr_assert_neq(jd_mapping_set(mp, "events.Signed In.type", "signin", &err), 0);
    cr_assert(strstr(err.err_msg, "mapping.events.Signed In.type"), "%s", err.err_msg);
    cr_assert_neq(jd_mapping_set(mp, "fields.user_id", "a..b", &err), 0);
    cr_assert(strstr(err.err_msg, "mapping.fields.user_id"), "%s", err.err_msg);
    cr_assert_eq(jd_mapping_set(mp, "fields.type", "event", &err), 0);
    cr_assert_neq(jd_mapping_check(mp, &err), 0);
    cr_assert(strstr(err.err_msg, "mapping.fields.event_id"), "%s", err.err_msg);
    jd_mapping_destroy(mp);
}

Test(mapping, schema_without_a_required_path_is_refused)
{
    fx_t f;
    fx_init(&f);
    set(&f, "fields.type", "ctx.kind");
    cr_assert_eq(jd_mapping_check_schema(f.mp, f.schema, "schema id 9", &f.err), JD_ERR_FATAL);
    cr_assert(strstr(f.err.err_msg, "schema id 9 has no 'ctx.kind'"), "%s", f.err.err_msg);
    fx_fini(&f);
}
