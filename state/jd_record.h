/*
 * jd_record: the stored form of one account record (jd_account_t), the
 * value of the Redis key <prefix>:{T}:rec.
 *
 * Layout (docs/state.md, "The account record"): byte 0 is the format
 * version (JD_RECORD_VERSION); bytes 1..8 are the ownership epoch of the
 * writer (ac_epoch), big-endian, so the fenced write in state/store.lua
 * compares two records' epochs as 8-byte strings; then the fields of the
 * record in a fixed order, integers as LEB128 varints (signed ones
 * zig-zag), strings as a varint length and bytes, hashes as 8 bytes
 * little-endian, sorted arrays as a count and their elements. The days
 * of the retention horizon are stored as day (the distance from the
 * previous one), usage count and, for the days of the lateness horizon
 * only, their event id hashes (version 2; version 1 stored every day's
 * ids, and is still read). What the account keeps for speed only (the
 * windows at ac_win_day, the NPS sum) is not stored: decode leaves it to
 * be computed by the next apply.
 *
 * Pure: no I/O, any thread. Decode checks every length against the bytes
 * left and every count against what those bytes can hold, so a truncated
 * or hostile record is an error, never an over-read or a huge allocation;
 * a record of a version other than 1 and 2 is refused with a message
 * naming the versions.
 *
 * Ownership: jd_record_encode appends to out (the caller owns and frees
 * it; it is reset first); jd_record_decode returns a new jd_account_t the
 * caller destroys with jd_account_destroy.
 */
#ifndef JD_RECORD_H
#define JD_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "jd_account.h"
#include "jd_codec.h"
#include "jd_err.h"

#define JD_RECORD_VERSION 2
/* bytes before the fields: version + epoch */
#define JD_RECORD_HEAD 9

/* Encodes ac into out (out->b_len = 0 first). 0, or -1 with err set
 * (JD_ERR_FATAL/JD_E_NOMEM). */
int jd_record_encode(const jd_account_t *ac, jd_buf_t *out, jd_err_t *err);

/* Decodes a record of version 2 or 1. lateness_days is L
 * (acf_lateness_days, >= 1): the days before D-L+1 (D the record's as-of
 * day) come out sealed, their ids dropped and their usage counts kept, as
 * jd_account_apply leaves them (a version 1 record has every day's ids; a
 * record written with a larger L has more days with ids). NULL with err
 * set (JD_ERR_FATAL, code JD_E_MALFORMED or JD_E_NOMEM) when it is
 * malformed, of another version, or memory ran out. */
jd_account_t *jd_record_decode(const void *data, size_t len, int lateness_days,
                               jd_err_t *err);

/* The epoch in a record's head; 0 when len < JD_RECORD_HEAD. */
uint64_t jd_record_epoch(const void *data, size_t len);

#endif
