/*
 * fuzz_record: libFuzzer target for the stored account record.
 *
 * The input is a record (jd_record_decode). Decoding must never over-read
 * or crash; a failure must be a fatal error with a message. Whatever
 * decodes must encode, and that encoding must decode again to a record
 * that encodes to the same bytes (decode . encode is the identity on what
 * the encoder writes), with the same epoch.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jd_record.h"

/* The lateness of the default configuration (state.lateness_days). */
#define FUZZ_LATENESS 7

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    jd_err_t err;
    jd_buf_t a = {0}, b = {0};
    jd_account_t *ac = jd_record_decode(data, len, FUZZ_LATENESS, &err), *again;
    if (!ac) {
        if (err.err_class != JD_ERR_FATAL || !err.err_msg[0])
            abort();
        return 0;
    }
    if (jd_record_encode(ac, &a, &err) != 0)
        abort();
    if (!(again = jd_record_decode(a.b_data, a.b_len, FUZZ_LATENESS, &err)))
        abort();
    if (jd_record_encode(again, &b, &err) != 0 || a.b_len != b.b_len ||
        memcmp(a.b_data, b.b_data, a.b_len) != 0 ||
        again->ac_epoch != jd_record_epoch(data, len))
        abort();
    jd_account_destroy(again);
    jd_account_destroy(ac);
    jd_buf_free(&a);
    jd_buf_free(&b);
    return 0;
}
