/*
 * jd_strcheck: the string checks every decoded string goes through (the
 * generic reader in jd_decode.c, the fast path in jd_prog.c, the mapping
 * in jd_mapping.c): length against limits.max_string_bytes, well-formed
 * UTF-8, no NUL byte. Pure, no allocation, any thread; the message names
 * the field (and the map entry by its key) and the byte offset.
 */
#include "jd_codec_int.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- UTF-8 --------------------------------------------------------------- */

/* Returns the offset of the first byte that does not start a well-formed
 * UTF-8 sequence (Unicode table 3-7: no overlongs, no surrogates
 * D800-DFFF, nothing above U+10FFFF), or of a NUL byte (it would cut the C
 * string); returns n when all n bytes are valid. */
static size_t jd_utf8_scan(const unsigned char *s, size_t n)
{
    const uint64_t lo7 = 0x0101010101010101ull, hi = 0x8080808080808080ull;
    size_t i = 0;
    while (i < n) {
        /* Eight ASCII bytes at a time: no high bit and no zero byte. */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, sizeof w);
            if ((w & hi) || ((w - lo7) & ~w & hi))
                break;
            i += 8;
        }
        if (i >= n)
            break;
        unsigned c = s[i];
        if (c >= 0x01 && c < 0x80) {
            i++;
            continue;
        }
        size_t len = 4;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            len = 2;
        else if (c >= 0xE0 && c <= 0xEF)
            len = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        else if (c >= 0xF0 && c <= 0xF4)
            lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        else
            return i; /* NUL, stray continuation, C0/C1, F5-FF */
        if (n - i < len || s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        }
        i += len;
    }
    return n;
}

/* Renders "attributes['key']" for messages; only called on the error path,
 * and only with keys already validated (UTF-8, bounded). */
static const char *jd_label(char *buf, size_t cap, const char *field,
                            const char *key)
{
    if (!key)
        return field;
    if (strlen(key) <= 64)
        snprintf(buf, cap, "%s['%s']", field, key);
    else
        snprintf(buf, cap, "%s[<key of %zu bytes>]", field, strlen(key));
    return buf;
}

/* Length, NUL and UTF-8 checks of one string (`key` names the map entry
 * when the string is an attribute value). */
int jd__codec_check_str(const jd_limits_t *lim, const char *s, size_t n,
                        const char *field, const char *key, jd_err_t *err)
{
    char lbl[112];
    size_t bad;

    if (n > lim->lim_max_string_bytes)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_OVERSIZE_FIELD,
                          "%s is %zu bytes, limit %zu",
                          jd_label(lbl, sizeof lbl, field, key), n,
                          lim->lim_max_string_bytes);
    bad = jd_utf8_scan((const unsigned char *)s, n);
    if (bad == n)
        return 0;
    return jd_err_set(err, JD_ERR_SKIP, JD_E_BAD_UTF8,
                      s[bad] ? "%s is not valid UTF-8 (byte offset %zu)"
                             : "%s contains a NUL byte (byte offset %zu)",
                      jd_label(lbl, sizeof lbl, field, key), bad);
}

