/*
 * fuzz_decode: libFuzzer target for the product-event decoder.
 *
 * Every input goes through jd_decoder_decode() in JD_WIRE_AUTO mode with
 * two registered schemas: id 1 = product_event.avsc itself, id 7 = an
 * evolved writer schema (tests/fixtures/codec/product_event_v2.avsc), so
 * both the direct and the resolved path are explored. The target aborts
 * when a decode "succeeds" with an event that breaks the decoder's own
 * contract (empty ids, strings over the limit, too many attributes, a
 * timestamp out of range), and when an error comes back without the skip
 * class: bad input must never look like a fatal or retriable condition.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_codec.h"

static jd_decoder_t *jd_fuzz_dec;
static jd_arena_t jd_fuzz_ar;
static jd_limits_t jd_fuzz_lim;

static void jd_fuzz_init(void)
{
    jd_err_t err;
    char path[1024];
    jd_limits_default(&jd_fuzz_lim);
    jd_fuzz_lim.lim_max_string_bytes = 256;
    jd_fuzz_lim.lim_max_attributes = 16;
    jd_fuzz_dec = jd_decoder_new(JD_WIRE_AUTO, &jd_fuzz_lim, &err);
    snprintf(path, sizeof path, "%s/tests/fixtures/codec/product_event_v2.avsc",
             JD_SOURCE_DIR);
    if (!jd_fuzz_dec ||
        jd_decoder_add_schema(jd_fuzz_dec, 1, jd_codec_product_schema_json(), &err) ||
        jd_decoder_add_schema_file(jd_fuzz_dec, 7, path, &err)) {
        fprintf(stderr, "fuzz_decode: set-up failed: %s\n", err.err_msg);
        abort();
    }
    jd_arena_init(&jd_fuzz_ar, 64 * 1024);
}

static void jd_fuzz_check_str(const char *s, int required)
{
    if (!s) {
        if (required)
            abort();
        return;
    }
    size_t n = strlen(s);
    if ((required && n == 0) || n > jd_fuzz_lim.lim_max_string_bytes)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jd_event_t ev;
    jd_err_t err;

    if (!jd_fuzz_dec)
        jd_fuzz_init();
    int rc = jd_decoder_decode(jd_fuzz_dec, data, size, &jd_fuzz_ar, &ev, &err);
    if (rc == 0) {
        jd_fuzz_check_str(ev.ev_id, 1);
        jd_fuzz_check_str(ev.ev_account, 1);
        jd_fuzz_check_str(ev.ev_type_name, 1);
        jd_fuzz_check_str(ev.ev_user, 0);
        jd_fuzz_check_str(ev.ev_feature, 0);
        if (ev.ev_attr_cnt > jd_fuzz_lim.lim_max_attributes)
            abort();
        for (size_t i = 0; i < ev.ev_attr_cnt; i++) {
            jd_fuzz_check_str(ev.ev_attrs[i].at_key, 0);
            jd_fuzz_check_str(ev.ev_attrs[i].at_val, 0);
        }
        if (ev.ev_occurred_at < jd_fuzz_lim.lim_min_occurred_at ||
            ev.ev_occurred_at >= jd_fuzz_lim.lim_max_occurred_at)
            abort();
    } else if (rc != JD_ERR_SKIP || err.err_class != JD_ERR_SKIP || !err.err_msg[0]) {
        abort();
    }
    jd_arena_reset(&jd_fuzz_ar);
    return 0;
}
