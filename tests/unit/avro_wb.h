/*
 * avro_wb.h: a tiny Avro binary writer for the codec tests (test_codec.c,
 * test_codec_hostile.c). It writes byte by byte what jd_encoder_event()
 * would refuse or what another writer schema would produce, into a fixed
 * buffer that fails the test when it overflows. Header-only (static
 * inline), since every test file is its own executable.
 */
#ifndef JD_TEST_AVRO_WB_H
#define JD_TEST_AVRO_WB_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

typedef struct wb {
    unsigned char b[16384];
    size_t n;
} wb_t;

static inline void wb_raw(wb_t *w, const void *p, size_t n)
{
    cr_assert_leq(w->n + n, sizeof w->b);
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

/* A zig-zag varint (Avro int and long). */
static inline void wb_long(wb_t *w, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z & ~(uint64_t)0x7f) {
        unsigned char c = (unsigned char)((z & 0x7f) | 0x80);
        wb_raw(w, &c, 1);
        z >>= 7;
    }
    unsigned char c = (unsigned char)z;
    wb_raw(w, &c, 1);
}

static inline void wb_strn(wb_t *w, const char *s, size_t n)
{
    wb_long(w, (int64_t)n);
    wb_raw(w, s, n);
}

static inline void wb_str(wb_t *w, const char *s) { wb_strn(w, s, strlen(s)); }
static inline void wb_double(wb_t *w, double d) { wb_raw(w, &d, 8); } /* x86: LE */
static inline void wb_float(wb_t *w, float f) { wb_raw(w, &f, 4); }

/* ["null","string"] */
static inline void wb_ostr(wb_t *w, const char *s)
{
    wb_long(w, s ? 1 : 0);
    if (s)
        wb_str(w, s);
}

/* The Confluent header: magic 0x00 and the big-endian schema id. */
static inline void wb_frame(wb_t *w, int32_t id)
{
    unsigned char h[5] = {0, (unsigned char)((uint32_t)id >> 24),
                          (unsigned char)((uint32_t)id >> 16),
                          (unsigned char)((uint32_t)id >> 8), (unsigned char)id};
    wb_raw(w, h, 5);
}

#endif
