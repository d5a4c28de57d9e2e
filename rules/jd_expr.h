/*
 * jd_expr: the condition language of the rules file, compiled once and
 * evaluated many times.
 *
 *   utilization < 0.3 and days_since_start >= 30
 *   now - last_event_at > 14d
 *   segment in ["smb", "mid_market"] and first_value_at is null
 *
 * The grammar, the precedence table and the null semantics are documented
 * at the top of jd_expr.c. In short: null propagates through arithmetic,
 * any comparison with a null side is false, `is null` tests for null.
 *
 * A compiled expression is immutable: any thread may evaluate it
 * concurrently. Evaluation allocates nothing and never fails (a bad value
 * at run time gives null). Strings in a returned value are borrowed from
 * the expression or from the signals it was evaluated on.
 *
 * Ownership: jd_expr_compile() returns an expression (one allocation) that
 * the caller frees with jd_expr_destroy(); everything obtained from it is
 * borrowed and lives as long as the expression.
 */
#ifndef JD_EXPR_H
#define JD_EXPR_H

#include <stddef.h>
#include <stdint.h>

#include "jd_err.h"
#include "jd_signals.h"

#define JD_EXPR_TEXT_MAX  4096 /* longest expression text, bytes */
#define JD_EXPR_DEPTH_MAX 64   /* nesting depth and evaluation stack bound */

typedef struct jd_expr jd_expr_t;

/* Compiles `text` (NUL-terminated, at most JD_EXPR_TEXT_MAX bytes): parses,
 * resolves signal names with jd_signals_lookup() and type-checks. Returns 0
 * and *out, or JD_ERR_FATAL (code JD_E_RULES) with err->err_msg =
 * "column N: what went wrong" and, when err_col is not NULL, *err_col = N
 * (1-based, counted in characters from the start of text). */
int jd_expr_compile(const char *text, jd_expr_t **out, size_t *err_col,
                    jd_err_t *err);

/* Frees an expression; NULL is fine. */
void jd_expr_destroy(jd_expr_t *e);

/* Evaluates on one account's signals. Never fails; see jd_expr.c for the
 * semantics of null. A returned string is borrowed from `e` or `sg`. */
jd_value_t jd_expr_eval(const jd_expr_t *e, const jd_signals_t *sg);

/* 1 for boolean true, a non-zero number or a non-empty string; 0 for
 * false, 0, "" and null. */
int jd_expr_truthy(jd_value_t v);

/* Static type of the expression's result: JD_VAL_BOOL, JD_VAL_NUM,
 * JD_VAL_STR, or JD_VAL_NULL when it can only ever be null. A BOOL
 * expression never evaluates to null. */
jd_val_type_t jd_expr_type(const jd_expr_t *e);

/* Normalised text: one space around binary operators, parentheses only
 * where precedence needs them (and around the operand of `not` and unary
 * `-` when it is not a single term), numbers in shortest round-trip form,
 * durations kept as written (`14d`). Compiling it gives the same text. */
const char *jd_expr_text(const jd_expr_t *e);

/* The signals the expression reads, each once, in order of first
 * appearance in the text. Returns the count; *ids is borrowed. */
size_t jd_expr_signals(const jd_expr_t *e, const jd_signal_id_t **ids);

/* Parses a duration as written in the rules file: "0" or a non-negative
 * number followed by d, h, m or s ("14d", "1.5h"). Returns 0 and *ms
 * (rounded to whole ms), or -1 when `s` is not a duration. */
int jd_expr_parse_duration(const char *s, int64_t *ms);

/* The message of a jd_expr_compile() error without its "column N: " prefix
 * (for callers that report the position themselves). */
const char *jd_expr_err_what(const jd_err_t *err);

#endif
