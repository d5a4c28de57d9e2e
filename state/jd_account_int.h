/*
 * jd_account_int: helpers shared by the pieces of jd_account:
 * state/jd_account.c (life cycle, rules and positions, memory),
 * state/jd_account_apply.c (the per-event apply) and
 * state/jd_account_read.c (reading a record out). Not for other modules.
 *
 * Pure like jd_account: no I/O, any thread, one account at a time.
 */
#ifndef JD_ACCOUNT_INT_H
#define JD_ACCOUNT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "jd_account.h"

/* Makes room for one more element of an array (*v, n used, *cap): the
 * capacity doubles. 0, or -1 (the array unchanged) when out of memory
 * (jd_account.c). */
int jd__account_grow(void *vp, uint32_t n, uint32_t *cap, size_t each);

/* Sets ac_nps_cnt and ac_nps_sum to the NPS answers of the 90 days up
 * to day (jd_account_apply.c). */
void jd__account_nps_total(jd_account_t *ac, int64_t day);

/* Seals the days before oldest (frees their ids, keeps their usage
 * counts; a day without usage is dropped): what leaving the lateness
 * horizon does to a day (jd_account_apply.c). */
void jd__account_days_seal(jd_account_t *ac, int64_t oldest);

/* Parses lw_val into lw_num/lw_int (after every change of lw_val). */
void jd__account_lww_parse(jd_lww_t *lw);

#endif
