/*
 * fuzz_rules: libFuzzer target for the rule language.
 *
 * The first byte picks the entry point: even -> the input is one
 * expression for jd_expr_compile(); odd -> the input is a whole rules file
 * for jd_rules_load_buffer(). Whatever compiles is evaluated on three
 * signal sets (all null, typical values, extreme values), its normalised
 * text must compile again to the same text, and a ruleset is run through
 * jd_rules_decide(). A failure must be a fatal rules error with a message:
 * that is the contract `journeyd rules check` relies on.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jd_expr.h"
#include "jd_rules.h"

static void jd_fuzz_signals(jd_signals_t sg[3])
{
    jd_signals_clear(&sg[0]);
    jd_signals_clear(&sg[1]);
    jd_signals_clear(&sg[2]);
    for (int i = 0; i < JD_SIG__COUNT; i++) {
        jd_signal_id_t id = (jd_signal_id_t)i;
        if (jd_signals_type(id) == JD_VAL_STR) {
            jd_signals_set_str(&sg[1], id, "enterprise");
            jd_signals_set_str(&sg[2], id, "");
        } else {
            jd_signals_set_num(&sg[1], id, 1790000000000.0 * (i % 2) + 0.5 * i);
            jd_signals_set_num(&sg[2], id, i % 2 ? -1e308 : 0.0);
        }
    }
}

static void jd_fuzz_expr(const char *text, const jd_signals_t sg[3])
{
    jd_expr_t *e = NULL, *again = NULL;
    jd_err_t err;
    size_t col = 0;
    if (jd_expr_compile(text, &e, &col, &err)) {
        if (err.err_class != JD_ERR_FATAL || !err.err_msg[0])
            abort();
        return;
    }
    for (int i = 0; i < 3; i++) {
        jd_value_t v = jd_expr_eval(e, &sg[i]);
        if (v.type == JD_VAL_NUM && !isfinite(v.num))
            abort(); /* non-finite results are documented to become null */
    }
    /* the canonical text (fully parenthesised) compiles to itself; it
     * can be longer than the source, and past JD_EXPR_TEXT_MAX it is
     * refused like any source text that long */
    if (strlen(jd_expr_text(e)) <= JD_EXPR_TEXT_MAX &&
        (jd_expr_compile(jd_expr_text(e), &again, NULL, &err) ||
         strcmp(jd_expr_text(e), jd_expr_text(again)) != 0))
        abort();
    jd_expr_destroy(again);
    jd_expr_destroy(e);
}

static void jd_fuzz_file(const char *text, size_t len, const jd_signals_t sg[3])
{
    jd_ruleset_t *rs = NULL;
    jd_err_t err;
    if (jd_rules_load_buffer(text, len, "fuzz.yaml", &rs, &err)) {
        if (err.err_class != JD_ERR_FATAL || !err.err_msg[0])
            abort();
        return;
    }
    size_t n = jd_rules_count(rs);
    jd_rule_state_t *st = calloc(n ? n : 1, sizeof *st);
    unsigned char *changed = calloc(n ? n : 1, 1);
    jd_trigger_t *out = calloc(n ? n : 1, sizeof *out);
    for (int i = 0; i < 3 && st && changed && out; i++)
        jd_rules_decide(rs, "acct", &sg[i], st, changed, out, n);
    free(st);
    free(changed);
    free(out);
    jd_rules_destroy(rs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static jd_signals_t sg[3];
    static int ready;
    if (!ready) {
        jd_fuzz_signals(sg);
        ready = 1;
    }
    if (size < 1 || size > 64 * 1024)
        return 0;
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    if (data[0] % 2 == 0)
        jd_fuzz_expr(text, sg);
    else
        jd_fuzz_file(text, size - 1, sg);
    free(text);
    return 0;
}
