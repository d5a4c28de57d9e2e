/*
 * The decoder's schema source (jd_decoder_set_fetch, what the schema
 * registry plugs into): an unknown Confluent id is asked for once and then
 * decoded from the decoder's own table; a definite source error, or a
 * schema that does not resolve against product_event.avsc, dead-letters
 * the message as unknown_schema_id with the source's reason, while no
 * answer (JD_ERR_RETRY, a registry outage) is passed on as JD_ERR_RETRY
 * and the id asked for again by the next decode; no source keeps the old
 * "not registered" behaviour. A schema text that was refused is neither
 * asked for nor parsed again; fetched schemas are bounded
 * (jd_decoder_set_cache_max), the oldest forgotten first.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "jd_codec.h"

typedef struct fetch_log {
    int calls;
    int32_t last_id;
    int up;        /* id 7: 0 while the registry is unreachable */
} fetch_log_t;

static int fetch(void *opaque, int32_t id, const char **json, jd_err_t *err)
{
    fetch_log_t *fl = opaque;
    fl->calls++;
    fl->last_id = id;
    if (id == 42) {
        *json = jd_codec_product_schema_json();
        return 0;
    }
    if (id == 43) {
        *json = "{\"type\":\"record\",\"name\":\"Other\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"}]}";
        return 0;
    }
    if (id == 44) {
        *json = "{\"type\":\"record\",\"name\":"; /* does not parse */
        return 0;
    }
    if (id == 8)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_UNKNOWN_SCHEMA, "not in the registry");
    if (id == 7 && fl->up) {
        *json = jd_codec_product_schema_json();
        return 0;
    }
    if (id >= 100 && id < 200) { /* for the eviction test */
        *json = jd_codec_product_schema_json();
        return 0;
    }
    return jd_err_set(err, JD_ERR_RETRY, JD_E_IO, "registry unreachable");
}

static void encode(int32_t id, jd_buf_t *out)
{
    jd_err_t err;
    jd_encoder_t *enc = jd_encoder_new(&err);
    jd_event_t ev = {.ev_id = "e1", .ev_account = "acme", .ev_type_name = "login",
                     .ev_user = "u1", .ev_occurred_at = 1790000000000LL};
    cr_assert(enc);
    cr_assert_eq(jd_encoder_event(enc, &ev, id, out, &err), 0, "%s", err.err_msg);
    jd_encoder_destroy(enc);
}

Test(codec_fetch, unknown_id_is_fetched_once_then_cached)
{
    jd_limits_t lim;
    jd_err_t err;
    jd_arena_t ar;
    jd_event_t ev;
    jd_buf_t msg = {0};
    fetch_log_t fl = {0};

    jd_limits_default(&lim);
    jd_arena_init(&ar, 0);
    jd_decoder_t *dec = jd_decoder_new(JD_WIRE_AUTO, &lim, &err);
    cr_assert(dec);
    encode(42, &msg);
    cr_assert_eq(jd_decoder_decode(dec, msg.b_data, msg.b_len, &ar, &ev, &err),
                 JD_ERR_SKIP, "no source: not registered");
    cr_assert_eq(err.err_code, JD_E_UNKNOWN_SCHEMA);

    jd_decoder_set_fetch(dec, fetch, &fl);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(jd_decoder_decode(dec, msg.b_data, msg.b_len, &ar, &ev, &err), 0,
                     "%s", err.err_msg);
        cr_assert_str_eq(ev.ev_account, "acme");
    }
    cr_assert_eq(fl.calls, 1, "the schema is asked for once");
    cr_assert_eq(fl.last_id, 42);

    encode(8, &msg);
    cr_assert_eq(jd_decoder_decode(dec, msg.b_data, msg.b_len, &ar, &ev, &err), JD_ERR_SKIP);
    cr_assert_eq(err.err_code, JD_E_UNKNOWN_SCHEMA);
    cr_assert(strstr(err.err_msg, "schema id 8") && strstr(err.err_msg, "not in the registry"),
              "%s", err.err_msg);

    /* no answer (outage): passed on as RETRY, nothing remembered, asked
     * again by the next decode, which succeeds once the source answers */
    encode(7, &msg);
    for (int i = 0; i < 2; i++) {
        int calls = fl.calls;
        cr_assert_eq(jd_decoder_decode(dec, msg.b_data, msg.b_len, &ar, &ev, &err),
                     JD_ERR_RETRY);
        cr_assert_eq(err.err_code, JD_E_IO);
        cr_assert(strstr(err.err_msg, "schema id 7") && strstr(err.err_msg, "registry unreachable"),
                  "%s", err.err_msg);
        cr_assert_eq(fl.calls, calls + 1, "an outage is asked about again");
    }
    fl.up = 1;
    cr_assert_eq(jd_decoder_decode(dec, msg.b_data, msg.b_len, &ar, &ev, &err), 0, "%s",
                 err.err_msg);
    cr_assert_str_eq(ev.ev_account, "acme");

    encode(43, &msg);
    cr_assert_eq(jd_decoder_decode(dec, msg.b_data, msg.b_len, &ar, &ev, &err), JD_ERR_SKIP);
    cr_assert_eq(err.err_code, JD_E_UNKNOWN_SCHEMA);
    cr_assert(strstr(err.err_msg, "from the schema registry"), "%s", err.err_msg);

    jd_buf_free(&msg);
    jd_decoder_destroy(dec);
    jd_arena_destroy(&ar);
}

/* A decoder with the fetch source, and what the tests below share. */
typedef struct fx {
    jd_decoder_t *dec;
    jd_arena_t    ar;
    jd_buf_t      msg;
    fetch_log_t   fl;
} fx_t;

static void fx_open(fx_t *f)
{
    jd_err_t err;
    memset(f, 0, sizeof *f);
    jd_arena_init(&f->ar, 0);
    cr_assert(f->dec = jd_decoder_new(JD_WIRE_AUTO, NULL, &err));
}

static void fx_close(fx_t *f)
{
    jd_buf_free(&f->msg);
    jd_decoder_destroy(f->dec);
    jd_arena_destroy(&f->ar);
}

/* Decodes a message framed with `id`; returns the class, err filled. */
static int fx_decode(fx_t *f, int32_t id, jd_err_t *err)
{
    jd_event_t ev;
    encode(id, &f->msg);
    return jd_decoder_decode(f->dec, f->msg.b_data, f->msg.b_len, &f->ar, &ev, err);
}

Test(codec_fetch, refused_schema_is_not_fetched_or_parsed_again)
{
    jd_err_t err;
    fx_t f;

    fx_open(&f);
    jd_decoder_set_fetch(f.dec, fetch, &f.fl);
    for (int32_t id = 43; id <= 44; id++) {
        f.fl.calls = 0;
        for (int i = 0; i < 5; i++) {
            cr_assert_eq(fx_decode(&f, id, &err), JD_ERR_SKIP);
            cr_assert_eq(err.err_code, JD_E_UNKNOWN_SCHEMA);
            cr_assert(strstr(err.err_msg, "schema id") && strstr(err.err_msg, "registry"), "%s",
                      err.err_msg);
        }
        cr_assert_eq(f.fl.calls, 1, "id %d: asked for once, refused once", (int)id);
    }
    fx_close(&f);
}

Test(codec_fetch, fetched_schemas_are_bounded_oldest_first)
{
    jd_err_t err;
    fx_t f;

    fx_open(&f);
    cr_assert_eq(jd_decoder_add_schema(f.dec, 5, jd_codec_product_schema_json(), &err), 0);
    jd_decoder_set_fetch(f.dec, fetch, &f.fl);
    jd_decoder_set_cache_max(f.dec, 4);
    for (int32_t id = 100; id < 110; id++) /* 10 ids through a cache of 4 */
        cr_assert_eq(fx_decode(&f, id, &err), 0, "%s", err.err_msg);
    cr_assert_eq(f.fl.calls, 10);
    cr_assert_eq(fx_decode(&f, 109, &err), 0); /* the newest four are still known */
    cr_assert_eq(fx_decode(&f, 106, &err), 0);
    cr_assert_eq(f.fl.calls, 10);
    cr_assert_eq(fx_decode(&f, 100, &err), 0); /* the oldest was forgotten */
    cr_assert_eq(f.fl.calls, 11);
    cr_assert_eq(fx_decode(&f, 5, &err), 0); /* a configured schema stays */
    cr_assert_eq(f.fl.calls, 11);
    fx_close(&f);
}
