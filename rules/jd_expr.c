/*
 * jd_expr: compiles a rule condition to a flat postfix program and runs it.
 *
 * Grammar (lowest precedence first; binary operators at one level are
 * left-associative, comparisons do not chain):
 *
 *   expr    := or
 *   or      := and ("or" and)*
 *   and     := not ("and" not)*
 *   not     := "not" not | cmp
 *   cmp     := sum [ ("<" | "<=" | ">" | ">=" | "==" | "!=") sum
 *                  | "is" ["not"] "null"
 *                  | "in" "[" literal ("," literal)* "]" ]
 *   sum     := product (("+" | "-") product)*
 *   product := unary (("*" | "/") unary)*
 *   unary   := "-" unary | primary
 *   primary := NUMBER | DURATION | STRING | "null" | "true" | "false"
 *            | SIGNAL | FUNC "(" expr ("," expr)* ")" | "(" expr ")"
 *   literal := ["-"] (NUMBER | DURATION) | STRING
 *
 *   NUMBER   123  0.9  1e3  2.5E-2     (no sign, no leading dot, no hex)
 *   DURATION a NUMBER directly followed by d, h, m or s: 30d 12h 15m 10s,
 *            worth that many milliseconds (timestamps are ms, so
 *            `now - last_event_at > 14d` compares like with like)
 *   STRING   "double quoted", escapes \" and \\ only, one line
 *   SIGNAL   a name from the signals table (jd_signals_lookup), or `now`,
 *            an alias of `as_of`
 *   FUNC     min(a, ...), max(a, ...), abs(x), coalesce(a, ...),
 *            if(cond, a, b)
 * Keywords are lower case. Whitespace (space, tab, newline) is free.
 *
 * Types are checked at compile time (signals have a declared type):
 * arithmetic, unary minus, < <= > >=, min, max and abs take numbers;
 * == and != take two operands of the same type (number, string or
 * boolean); `in` takes a number or string and a list of literals of that
 * type; and, or, not take booleans; coalesce takes arguments of one type;
 * if() takes a boolean and two values of one type (its result: a when
 * cond holds, else b; cond is never null, so neither is the choice).
 * Comparing with the literal null is an error (use `is null`). A rule's
 * whole condition must be boolean (checked by jd_rules).
 *
 * Null (a signal with no value) at run time:
 *   - arithmetic, unary minus, min, max and abs with a null operand give
 *     null; so do division by zero and any non-finite result;
 *   - a comparison (< <= > >= == != in) with a null side is false: with
 *     utilization null, `utilization < 0.3` and `utilization >= 0.3` are
 *     both false, and `not (utilization >= 0.3)` is TRUE;
 *   - `x is null` / `x is not null` test for it; coalesce(a, b, ...) gives
 *     the first non-null argument;
 *   - booleans are never null (comparisons never give null), so and / or /
 *     not are plain two-valued logic.
 *
 * Compilation (start-up only) parses by recursive descent into an AST held
 * in temporary arrays, checks types and limits as each node is built
 * (nesting depth and evaluation stack both bounded by JD_EXPR_DEPTH_MAX,
 * so every later recursion is bounded too), then emits postfix ops and
 * packs ops, constants, signal ids, string literals and the normalised
 * text into ONE allocation. Evaluation walks the ops with a fixed stack of
 * JD_EXPR_DEPTH_MAX values on the C stack: no allocation, no failure.
 * Compiled expressions are immutable and shared by all threads.
 */
#include "jd_expr.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- ops, nodes, tokens ------------------------------------------------ */

typedef enum jd_opcode {
    OP_CONST, OP_SIG, OP_NEG,
    OP_ADD, OP_SUB, OP_MUL, OP_DIV,
    OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ, OP_NE,
    OP_AND, OP_OR, OP_NOT, OP_ISNULL, OP_NOTNULL, OP_IN,
    OP_MIN, OP_MAX, OP_ABS, OP_COALESCE, OP_IF,
    /* fused forms of the commonest shapes (same results, fewer steps):
     * SIGNAL <cmp> CONSTANT (op_cnt: cmp << 8 | signal, op_arg: constant)
     * and SIGNAL is [not] null (op_cnt: 1 for is null, op_arg: signal) */
    OP_SIGCMP, OP_SIGNULL,
} jd_opcode_t;

_Static_assert(JD_SIG__COUNT <= 256, "OP_SIGCMP keeps a signal id in 8 bits");

/* Spelling of each operator, for the normalised text and error messages. */
static const char *const jd_op_text[] = {
    [OP_NEG] = "-", [OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*",
    [OP_DIV] = "/", [OP_LT] = "<", [OP_LE] = "<=", [OP_GT] = ">",
    [OP_GE] = ">=", [OP_EQ] = "==", [OP_NE] = "!=", [OP_AND] = "and",
    [OP_OR] = "or", [OP_NOT] = "not", [OP_IN] = "in", [OP_MIN] = "min",
    [OP_MAX] = "max", [OP_ABS] = "abs", [OP_COALESCE] = "coalesce",
    [OP_IF] = "if",
};

typedef struct jd_op {
    uint8_t  op_code;
    uint16_t op_cnt;  /* arguments of a call, elements of an `in` list */
    uint32_t op_arg;  /* constant index or signal id */
} jd_op_t;

typedef enum jd_node_kind {
    ND_NUM, ND_STR, ND_NULL, ND_BOOL, ND_SIG,
    ND_NEG, ND_NOT, ND_BIN, ND_ISNULL, ND_NOTNULL, ND_IN, ND_CALL,
} jd_node_kind_t;

/* Precedence levels, used by the printer (the parser encodes them in its
 * call structure). */
enum { PREC_OR = 1, PREC_AND, PREC_NOT, PREC_CMP, PREC_SUM, PREC_PRODUCT,
       PREC_NEG, PREC_PRIMARY };

typedef struct jd_node {
    jd_node_kind_t nd_kind;
    jd_opcode_t    nd_op;     /* ND_BIN and ND_CALL */
    jd_val_type_t  nd_type;   /* static type */
    int            nd_depth;  /* height of the subtree */
    int            nd_need;   /* evaluation stack slots the subtree needs */
    size_t         nd_off;    /* byte offset of the node's first char */
    size_t         nd_op_off; /* byte offset of its operator */
    int            nd_a, nd_b;/* children; ND_CALL/ND_IN: nd_b = first of
                                 nd_cnt entries in pr_args */
    size_t         nd_cnt;
    double         nd_num;    /* ND_NUM value (ms for a duration); ND_BOOL */
    double         nd_lit;    /* ND_NUM as written, before the unit */
    char           nd_unit;   /* ND_NUM duration unit, or 0 */
    int            nd_now;    /* ND_SIG written as `now` */
    size_t         nd_str;    /* ND_STR pool offset; ND_SIG signal id */
    size_t         nd_str_len;
} jd_node_t;

typedef enum jd_tok_kind {
    TK_EOF, TK_NUM, TK_STR, TK_IDENT, TK_LPAREN, TK_RPAREN, TK_LBRACK,
    TK_RBRACK, TK_COMMA, TK_PLUS, TK_MINUS, TK_STAR, TK_SLASH,
    TK_LT, TK_LE, TK_GT, TK_GE, TK_EQ, TK_NE,
    TK_AND, TK_OR, TK_NOT, TK_IS, TK_IN, TK_NULL, TK_TRUE, TK_FALSE,
} jd_tok_kind_t;

typedef struct jd_token {
    jd_tok_kind_t tk_kind;
    size_t        tk_off, tk_len;  /* bytes of the token in the text */
    double        tk_lit, tk_num;  /* TK_NUM: as written, and in ms */
    char          tk_unit;
    size_t        tk_str, tk_str_len; /* TK_STR: decoded in the pool */
} jd_token_t;

static const struct { const char *kw; jd_tok_kind_t kind; } jd_keywords[] = {
    {"and", TK_AND}, {"or", TK_OR}, {"not", TK_NOT}, {"is", TK_IS},
    {"in", TK_IN}, {"null", TK_NULL}, {"true", TK_TRUE}, {"false", TK_FALSE},
};

static const struct {
    const char *fn; jd_opcode_t op; size_t min_args, max_args;
} jd_funcs[] = {
    {"min", OP_MIN, 1, JD_EXPR_DEPTH_MAX},
    {"max", OP_MAX, 1, JD_EXPR_DEPTH_MAX},
    {"abs", OP_ABS, 1, 1},
    {"coalesce", OP_COALESCE, 1, JD_EXPR_DEPTH_MAX},
    {"if", OP_IF, 3, 3},
};

#define JD_NKEYWORDS (sizeof jd_keywords / sizeof jd_keywords[0])
#define JD_NFUNCS    (sizeof jd_funcs / sizeof jd_funcs[0])

struct jd_expr {
    jd_val_type_t         ex_type;
    size_t                ex_op_cnt, ex_const_cnt, ex_sig_cnt;
    const jd_op_t        *ex_ops;
    const jd_value_t     *ex_consts;
    const jd_signal_id_t *ex_sigs;
    const char           *ex_text;
};

/* Compile-time state. Arrays are sized from the text length up front
 * (every node and every pool byte comes from at least one byte of text),
 * so nothing grows during parsing. */
typedef struct jd_parser {
    const char     *pr_text;
    size_t          pr_len, pr_pos;
    jd_token_t      pr_tok;
    jd_node_t      *pr_nodes;
    size_t          pr_node_cnt, pr_node_cap;
    int            *pr_args;
    size_t          pr_arg_cnt;
    char           *pr_pool;
    size_t          pr_pool_len;
    int             pr_depth;
    int             pr_sig_seen[JD_SIG__COUNT];
    jd_signal_id_t  pr_sig_order[JD_SIG__COUNT];
    size_t          pr_sig_cnt;
    jd_err_t       *pr_err;
    size_t          pr_err_col;
    int             pr_failed;
} jd_parser_t;

/* ---- errors and suggestions -------------------------------------------- */

/* Column of a byte offset: 1 + characters (UTF-8 lead bytes) before it. */
static size_t jd_expr_column(const char *text, size_t off)
{
    size_t col = 1;
    for (size_t i = 0; i < off; i++)
        if (((unsigned char)text[i] & 0xC0) != 0x80)
            col++;
    return col;
}

/* Records the first error only (later ones are consequences) and returns
 * -1 so that parse functions can `return jd_expr_fail(...)`. */
static int jd_expr_fail(jd_parser_t *p, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int jd_expr_fail(jd_parser_t *p, size_t off, const char *fmt, ...)
{
    char what[JD_ERR_MSG_MAX];
    va_list ap;

    if (p->pr_failed)
        return -1;
    p->pr_failed = 1;
    p->pr_err_col = jd_expr_column(p->pr_text, off);
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    jd_err_set(p->pr_err, JD_ERR_FATAL, JD_E_RULES, "column %zu: %s",
               p->pr_err_col, what);
    return -1;
}

/* Optimal-string-alignment edit distance (insert, delete, substitute,
 * swap two neighbours), case-insensitive. Names are short; longer input
 * gets no suggestion. */
static size_t jd_expr_distance(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b), d[33][33];

    if (la > 32 || lb > 32)
        return (size_t)-1;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int ne = tolower((unsigned char)a[i - 1]) !=
                     tolower((unsigned char)b[j - 1]);
            size_t v = d[i - 1][j - 1] + (size_t)ne;
            if (d[i - 1][j] + 1 < v)
                v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]
                && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

/* Keeps `cand` in *best when it is closer than anything seen so far and
 * close enough to be a plausible typo of name[0..len). */
static void jd_expr_consider(const char *name, size_t len, const char *cand,
                             const char **best, size_t *best_d)
{
    size_t limit = 1 + len / 5, d;

    if (limit > 3)
        limit = 3;
    d = jd_expr_distance(name, len, cand);
    if (d <= limit && d < *best_d) {
        *best = cand;
        *best_d = d;
    }
}

/* Writes " (did you mean 'x'?)" into buf, or "" when nothing is close. */
static void jd_expr_suggest(const char *name, size_t len, int functions,
                            char *buf, size_t cap)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;

    if (functions) {
        for (size_t i = 0; i < JD_NFUNCS; i++)
            jd_expr_consider(name, len, jd_funcs[i].fn, &best, &best_d);
    } else {
        for (int i = 0; i < JD_SIG__COUNT; i++)
            jd_expr_consider(name, len, jd_signals_name((jd_signal_id_t)i),
                             &best, &best_d);
        jd_expr_consider(name, len, "now", &best, &best_d);
    }
    if (best)
        snprintf(buf, cap, " (did you mean '%s'?)", best);
    else
        buf[0] = '\0';
}

/* ---- lexer ------------------------------------------------------------- */

static double jd_expr_unit_ms(char unit)
{
    switch (unit) {
    case 'd': return 86400000.0;
    case 'h': return 3600000.0;
    case 'm': return 60000.0;
    case 's': return 1000.0;
    }
    return 1.0;
}

/* Scans NUMBER or DURATION at s[0..] (s[0] is a digit): *num_len gets
 * the bytes of the number, *len those of number and unit, *lit the number,
 * *unit the unit or 0. Returns 0; -1 when letters follow the number that
 * are not a unit (*len then covers them too); -2 when the value is not
 * finite. */
static int jd_expr_scan_number(const char *s, size_t *num_len, size_t *len,
                               double *lit, char *unit)
{
    char buf[64];
    size_t i = 0, j;

    while (isdigit((unsigned char)s[i]))
        i++;
    if (s[i] == '.' && isdigit((unsigned char)s[i + 1]))
        for (i++; isdigit((unsigned char)s[i]); i++)
            ;
    if ((s[i] == 'e' || s[i] == 'E') && (isdigit((unsigned char)s[i + 1]) ||
        ((s[i + 1] == '+' || s[i + 1] == '-') &&
         isdigit((unsigned char)s[i + 2]))))
        for (i += 2; isdigit((unsigned char)s[i]); i++)
            ;
    j = i < sizeof buf ? i : sizeof buf - 1; /* longer: digits lost, */
    memcpy(buf, s, j);                       /* value stays in range */
    buf[j] = '\0';
    *lit = strtod(buf, NULL);
    *unit = 0;
    *num_len = i;
    for (j = i; isalnum((unsigned char)s[j]) || s[j] == '_'; j++)
        ;
    *len = j;
    if (j == i + 1 && strchr("dhms", s[i]))
        *unit = s[i];
    else if (j > i)
        return -1;
    return isfinite(*lit * jd_expr_unit_ms(*unit)) ? 0 : -2;
}

static int jd_expr_lex_number(jd_parser_t *p, jd_token_t *t)
{
    const char *s = p->pr_text + t->tk_off;
    size_t num_len, len;
    int rc = jd_expr_scan_number(s, &num_len, &len, &t->tk_lit, &t->tk_unit);

    if (rc == -1)
        return jd_expr_fail(p, t->tk_off + num_len, "unknown duration unit "
                            "'%.*s' (use d, h, m or s)",
                            (int)(len - num_len > 16 ? 16 : len - num_len),
                            s + num_len);
    if (rc == -2)
        return jd_expr_fail(p, t->tk_off, "number '%.*s' is out of range",
                            (int)(len > 32 ? 32 : len), s);
    t->tk_kind = TK_NUM;
    t->tk_len = len;
    t->tk_num = t->tk_lit * jd_expr_unit_ms(t->tk_unit);
    return 0;
}

/* Decodes a string literal into the pool (escapes \" and \\). */
static int jd_expr_lex_string(jd_parser_t *p, jd_token_t *t)
{
    const char *s = p->pr_text;
    size_t i = t->tk_off + 1;

    t->tk_kind = TK_STR;
    t->tk_str = p->pr_pool_len;
    for (;; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\0')
            return jd_expr_fail(p, t->tk_off, "unterminated string");
        if (c == '"')
            break;
        if (c < 0x20)
            return jd_expr_fail(p, i, "control character in string "
                                "(strings are one line)");
        if (c == '\\') {
            if (s[i + 1] != '"' && s[i + 1] != '\\')
                return jd_expr_fail(p, i, "bad escape in string (only \\\" "
                                    "and \\\\ are allowed)");
            c = (unsigned char)s[++i];
        }
        p->pr_pool[p->pr_pool_len++] = (char)c;
    }
    t->tk_str_len = p->pr_pool_len - t->tk_str;
    p->pr_pool[p->pr_pool_len++] = '\0';
    t->tk_len = i + 1 - t->tk_off;
    return 0;
}

static void jd_expr_lex_word(jd_parser_t *p, jd_token_t *t)
{
    const char *s = p->pr_text + t->tk_off;
    size_t n = 0;

    while (isalnum((unsigned char)s[n]) || s[n] == '_')
        n++;
    t->tk_kind = TK_IDENT;
    t->tk_len = n;
    for (size_t i = 0; i < JD_NKEYWORDS; i++)
        if (strlen(jd_keywords[i].kw) == n && !memcmp(s, jd_keywords[i].kw, n))
            t->tk_kind = jd_keywords[i].kind;
}

/* Operators and punctuation; friendly errors for spellings from other
 * languages (=, !, &&, ||, single quotes). */
static int jd_expr_lex_punct(jd_parser_t *p, jd_token_t *t)
{
    static const struct { const char *s; jd_tok_kind_t k; } ops[] = {
        {"<=", TK_LE}, {">=", TK_GE}, {"==", TK_EQ}, {"!=", TK_NE},
        {"<", TK_LT}, {">", TK_GT}, {"(", TK_LPAREN}, {")", TK_RPAREN},
        {"[", TK_LBRACK}, {"]", TK_RBRACK}, {",", TK_COMMA}, {"+", TK_PLUS},
        {"-", TK_MINUS}, {"*", TK_STAR}, {"/", TK_SLASH},
    };
    const char *s = p->pr_text + t->tk_off;

    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t n = strlen(ops[i].s);
        if (!strncmp(s, ops[i].s, n)) {
            t->tk_kind = ops[i].k;
            t->tk_len = n;
            return 0;
        }
    }
    if (!strncmp(s, "&&", 2) || !strncmp(s, "||", 2))
        return jd_expr_fail(p, t->tk_off, "unexpected '%.2s'; use '%s'", s,
                            s[0] == '&' ? "and" : "or");
    if (s[0] == '=' || s[0] == '!')
        return jd_expr_fail(p, t->tk_off, "unexpected '%c'; use %s", s[0],
                            s[0] == '=' ? "'==' to compare" : "'!=' or 'not'");
    if (s[0] == '\'')
        return jd_expr_fail(p, t->tk_off, "strings use double quotes");
    if ((unsigned char)s[0] >= 0x80)
        return jd_expr_fail(p, t->tk_off, "unexpected non-ASCII character");
    return jd_expr_fail(p, t->tk_off, "unexpected character '%c'", s[0]);
}

/* Moves to the next token. Returns 0, or -1 on a lexical error. */
static int jd_expr_advance(jd_parser_t *p)
{
    jd_token_t *t = &p->pr_tok;
    const char *s = p->pr_text;
    int rc = 0;

    while (s[p->pr_pos] == ' ' || s[p->pr_pos] == '\t' ||
           s[p->pr_pos] == '\n' || s[p->pr_pos] == '\r')
        p->pr_pos++;
    memset(t, 0, sizeof *t);
    t->tk_off = p->pr_pos;
    if (s[p->pr_pos] == '\0')
        t->tk_kind = TK_EOF;
    else if (isdigit((unsigned char)s[p->pr_pos]))
        rc = jd_expr_lex_number(p, t);
    else if (s[p->pr_pos] == '"')
        rc = jd_expr_lex_string(p, t);
    else if (isalpha((unsigned char)s[p->pr_pos]) || s[p->pr_pos] == '_')
        jd_expr_lex_word(p, t);
    else
        rc = jd_expr_lex_punct(p, t);
    p->pr_pos += t->tk_len;
    return rc;
}

/* "'tok'" or "end of expression", for messages. */
static const char *jd_expr_tok_desc(const jd_parser_t *p, char *buf,
                                    size_t cap)
{
    const jd_token_t *t = &p->pr_tok;
    int n = t->tk_len > 24 ? 24 : (int)t->tk_len;

    if (t->tk_kind == TK_EOF)
        return "end of expression";
    snprintf(buf, cap, "'%.*s%s'", n, p->pr_text + t->tk_off,
             t->tk_len > 24 ? "..." : "");
    return buf;
}

/* ---- normalised printing ----------------------------------------------- */

typedef struct jd_sbuf {
    char  *sb_buf;
    size_t sb_len, sb_cap;
    int    sb_oom;
} jd_sbuf_t;

static void jd_sbuf_put(jd_sbuf_t *sb, const char *s, size_t n)
{
    if (sb->sb_oom)
        return;
    if (sb->sb_len + n + 1 > sb->sb_cap) {
        size_t cap = (sb->sb_len + n + 1) * 2;
        char *nb = realloc(sb->sb_buf, cap);
        if (!nb) {
            sb->sb_oom = 1;
            return;
        }
        sb->sb_buf = nb;
        sb->sb_cap = cap;
    }
    memcpy(sb->sb_buf + sb->sb_len, s, n);
    sb->sb_len += n;
    sb->sb_buf[sb->sb_len] = '\0';
}

static void jd_sbuf_puts(jd_sbuf_t *sb, const char *s)
{
    jd_sbuf_put(sb, s, strlen(s));
}

/* Shortest %g form that reads back as the same double. */
static void jd_expr_fmt_num(char *buf, size_t cap, double v)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static int jd_expr_prec(const jd_node_t *n)
{
    switch (n->nd_kind) {
    case ND_NOT: return PREC_NOT;
    case ND_NEG: return PREC_NEG;
    case ND_ISNULL: case ND_NOTNULL: case ND_IN: return PREC_CMP;
    case ND_BIN: break;
    default: return PREC_PRIMARY;
    }
    switch (n->nd_op) {
    case OP_OR: return PREC_OR;
    case OP_AND: return PREC_AND;
    case OP_ADD: case OP_SUB: return PREC_SUM;
    case OP_MUL: case OP_DIV: return PREC_PRODUCT;
    default: return PREC_CMP;
    }
}

static void jd_expr_print(jd_sbuf_t *sb, const jd_parser_t *p, int n);

static void jd_expr_print_sub(jd_sbuf_t *sb, const jd_parser_t *p, int n,
                              int parens)
{
    if (parens)
        jd_sbuf_puts(sb, "(");
    jd_expr_print(sb, p, n);
    if (parens)
        jd_sbuf_puts(sb, ")");
}

static void jd_expr_print_literal(jd_sbuf_t *sb, const jd_parser_t *p,
                                  const jd_node_t *nd)
{
    char buf[40];

    if (nd->nd_kind == ND_NUM) {
        jd_expr_fmt_num(buf, sizeof buf - 1, nd->nd_lit);
        if (nd->nd_unit)
            strncat(buf, &nd->nd_unit, 1);
        jd_sbuf_puts(sb, buf);
        return;
    }
    jd_sbuf_puts(sb, "\"");
    for (size_t i = 0; i < nd->nd_str_len; i++) {
        char c = p->pr_pool[nd->nd_str + i];
        if (c == '"' || c == '\\')
            jd_sbuf_puts(sb, "\\");
        jd_sbuf_put(sb, &c, 1);
    }
    jd_sbuf_puts(sb, "\"");
}

/* name(a, b) for calls, [a, b] for `in` lists. */
static void jd_expr_print_list(jd_sbuf_t *sb, const jd_parser_t *p,
                               const jd_node_t *nd, const char *open,
                               const char *close)
{
    jd_sbuf_puts(sb, open);
    for (size_t i = 0; i < nd->nd_cnt; i++) {
        if (i)
            jd_sbuf_puts(sb, ", ");
        jd_expr_print(sb, p, p->pr_args[(size_t)nd->nd_b + i]);
    }
    jd_sbuf_puts(sb, close);
}

static void jd_expr_print_bin(jd_sbuf_t *sb, const jd_parser_t *p,
                              const jd_node_t *nd)
{
    int prec = jd_expr_prec(nd);
    int pa = jd_expr_prec(&p->pr_nodes[nd->nd_a]);
    int pb = jd_expr_prec(&p->pr_nodes[nd->nd_b]);

    /* left-associative levels repeat freely on the left; comparisons do
     * not chain, so a comparison operand of a comparison needs parens */
    jd_expr_print_sub(sb, p, nd->nd_a, prec == PREC_CMP ? pa <= prec
                                                        : pa < prec);
    jd_sbuf_puts(sb, " ");
    jd_sbuf_puts(sb, jd_op_text[nd->nd_op]);
    jd_sbuf_puts(sb, " ");
    jd_expr_print_sub(sb, p, nd->nd_b, pb <= prec);
}

/* Recursion is bounded by JD_EXPR_DEPTH_MAX (checked as nodes are built). */
static void jd_expr_print(jd_sbuf_t *sb, const jd_parser_t *p, int n)
{
    const jd_node_t *nd = &p->pr_nodes[n];
    int pa = nd->nd_a >= 0 ? jd_expr_prec(&p->pr_nodes[nd->nd_a]) : 0;

    switch (nd->nd_kind) {
    case ND_NUM: case ND_STR: jd_expr_print_literal(sb, p, nd); break;
    case ND_NULL: jd_sbuf_puts(sb, "null"); break;
    case ND_BOOL: jd_sbuf_puts(sb, nd->nd_num ? "true" : "false"); break;
    case ND_SIG:
        jd_sbuf_puts(sb, nd->nd_now ? "now"
                         : jd_signals_name((jd_signal_id_t)nd->nd_str));
        break;
    case ND_NEG:
        /* "- -x", not "-(-x)": parentheses would add a nesting level per
         * minus, so a chain that compiled could normalise past the depth
         * limit (found by tests/fuzz/fuzz_rules.c) */
        if (p->pr_nodes[nd->nd_a].nd_kind == ND_NEG) {
            jd_sbuf_puts(sb, "- ");
            jd_expr_print(sb, p, nd->nd_a);
        } else {
            jd_sbuf_puts(sb, "-");
            jd_expr_print_sub(sb, p, nd->nd_a, pa != PREC_PRIMARY);
        }
        break;
    case ND_NOT:
        jd_sbuf_puts(sb, "not ");
        jd_expr_print_sub(sb, p, nd->nd_a, pa != PREC_PRIMARY &&
                          p->pr_nodes[nd->nd_a].nd_kind != ND_NOT);
        break;
    case ND_BIN: jd_expr_print_bin(sb, p, nd); break;
    case ND_ISNULL: case ND_NOTNULL:
        jd_expr_print_sub(sb, p, nd->nd_a, pa <= PREC_CMP);
        jd_sbuf_puts(sb, nd->nd_kind == ND_ISNULL ? " is null"
                                                  : " is not null");
        break;
    case ND_IN:
        jd_expr_print_sub(sb, p, nd->nd_a, pa <= PREC_CMP);
        jd_expr_print_list(sb, p, nd, " in [", "]");
        break;
    case ND_CALL:
        jd_sbuf_puts(sb, jd_op_text[nd->nd_op]);
        jd_expr_print_list(sb, p, nd, "(", ")");
        break;
    }
}

/* ---- node construction and type checking ------------------------------- */

static const char *jd_expr_type_name(jd_val_type_t t)
{
    switch (t) {
    case JD_VAL_NUM: return "a number";
    case JD_VAL_STR: return "a string";
    case JD_VAL_BOOL: return "true/false";
    default: return "null";
    }
}

/* The normalised text of a subtree, quoted and shortened, for messages. */
static const char *jd_expr_desc(const jd_parser_t *p, int n, char *buf,
                                size_t cap)
{
    jd_sbuf_t sb = {0};

    jd_expr_print(&sb, p, n);
    if (!sb.sb_buf)
        snprintf(buf, cap, "the operand");
    else if (sb.sb_len > 40)
        snprintf(buf, cap, "'%.37s...'", sb.sb_buf);
    else
        snprintf(buf, cap, "'%s'", sb.sb_buf);
    free(sb.sb_buf);
    return buf;
}

static int jd_expr_node(jd_parser_t *p, jd_node_kind_t kind, size_t off)
{
    jd_node_t *nd;

    if (p->pr_node_cnt == p->pr_node_cap)
        return jd_expr_fail(p, off, "internal error: node table full");
    nd = &p->pr_nodes[p->pr_node_cnt];
    memset(nd, 0, sizeof *nd);
    nd->nd_kind = kind;
    nd->nd_off = off;
    nd->nd_op_off = off;
    nd->nd_a = nd->nd_b = -1;
    nd->nd_depth = 1;
    nd->nd_need = 1;
    return (int)p->pr_node_cnt++;
}

/* Sets depth and stack need of node n from its children and enforces the
 * limits that keep printing, emission and evaluation bounded. */
static int jd_expr_measure(jd_parser_t *p, int n)
{
    jd_node_t *nd = &p->pr_nodes[n];
    const jd_node_t *a = nd->nd_a >= 0 ? &p->pr_nodes[nd->nd_a] : NULL;
    const jd_node_t *b = nd->nd_kind == ND_BIN ? &p->pr_nodes[nd->nd_b]
                                                : NULL;

    if (nd->nd_kind == ND_CALL) {
        for (size_t i = 0; i < nd->nd_cnt; i++) {
            const jd_node_t *arg = &p->pr_nodes[p->pr_args[nd->nd_b + i]];
            if (arg->nd_depth + 1 > nd->nd_depth)
                nd->nd_depth = arg->nd_depth + 1;
            if ((int)i + arg->nd_need > nd->nd_need)
                nd->nd_need = (int)i + arg->nd_need;
        }
    } else if (a) {
        nd->nd_depth = a->nd_depth + 1;
        nd->nd_need = a->nd_need;
        if (b) {
            if (b->nd_depth + 1 > nd->nd_depth)
                nd->nd_depth = b->nd_depth + 1;
            if (b->nd_need + 1 > nd->nd_need)
                nd->nd_need = b->nd_need + 1;
        }
    }
    if (nd->nd_depth > JD_EXPR_DEPTH_MAX || nd->nd_need > JD_EXPR_DEPTH_MAX)
        return jd_expr_fail(p, nd->nd_off, "expression is nested too deeply "
                            "(limit %d levels)", JD_EXPR_DEPTH_MAX);
    return n;
}

/* Fails unless operand n has static type `want` (null literals pass as
 * numbers: they give null, like a null signal). */
static int jd_expr_want(jd_parser_t *p, int n, jd_val_type_t want,
                        const char *what)
{
    const jd_node_t *nd = &p->pr_nodes[n];
    char desc[64];

    if (nd->nd_type == want || (nd->nd_type == JD_VAL_NULL &&
                                want == JD_VAL_NUM))
        return 0;
    return jd_expr_fail(p, nd->nd_off, "%s needs %s, but %s is %s", what,
                        want == JD_VAL_BOOL ? "true/false operands"
                                            : "numbers",
                        jd_expr_desc(p, n, desc, sizeof desc),
                        jd_expr_type_name(nd->nd_type));
}

static int jd_expr_no_null_literal(jd_parser_t *p, int n)
{
    if (p->pr_nodes[n].nd_kind != ND_NULL)
        return 0;
    return jd_expr_fail(p, p->pr_nodes[n].nd_off, "a comparison with null "
                        "is never true; use 'is null' or 'is not null'");
}

/* == and != : same type on both sides, no null literal. */
static int jd_expr_check_eq(jd_parser_t *p, int a, int b, size_t op_off)
{
    const jd_node_t *na = &p->pr_nodes[a], *nb = &p->pr_nodes[b];
    char da[64], db[64];

    if (jd_expr_no_null_literal(p, a) < 0 || jd_expr_no_null_literal(p, b) < 0)
        return -1;
    if (na->nd_type == nb->nd_type)
        return 0;
    return jd_expr_fail(p, op_off, "cannot compare %s (%s) with %s (%s)",
                        jd_expr_desc(p, a, da, sizeof da),
                        jd_expr_type_name(na->nd_type),
                        jd_expr_desc(p, b, db, sizeof db),
                        jd_expr_type_name(nb->nd_type));
}

/* Type-checks a binary operator and returns its result type, or -1. */
static int jd_expr_check_bin(jd_parser_t *p, jd_opcode_t op, int a, int b,
                             size_t op_off)
{
    char what[16];

    snprintf(what, sizeof what, "'%s'", jd_op_text[op]);
    switch (op) {
    case OP_AND: case OP_OR:
        if (jd_expr_want(p, a, JD_VAL_BOOL, what) < 0 ||
            jd_expr_want(p, b, JD_VAL_BOOL, what) < 0)
            return -1;
        return JD_VAL_BOOL;
    case OP_EQ: case OP_NE:
        return jd_expr_check_eq(p, a, b, op_off) < 0 ? -1 : JD_VAL_BOOL;
    case OP_LT: case OP_LE: case OP_GT: case OP_GE:
        if (jd_expr_no_null_literal(p, a) < 0 ||
            jd_expr_no_null_literal(p, b) < 0 ||
            jd_expr_want(p, a, JD_VAL_NUM, what) < 0 ||
            jd_expr_want(p, b, JD_VAL_NUM, what) < 0)
            return -1;
        return JD_VAL_BOOL;
    default:
        if (jd_expr_want(p, a, JD_VAL_NUM, what) < 0 ||
            jd_expr_want(p, b, JD_VAL_NUM, what) < 0)
            return -1;
        return JD_VAL_NUM;
    }
}

static int jd_expr_mk_bin(jd_parser_t *p, jd_opcode_t op, int a, int b,
                          size_t op_off)
{
    int type = jd_expr_check_bin(p, op, a, b, op_off), n;

    if (type < 0)
        return -1;
    n = jd_expr_node(p, ND_BIN, p->pr_nodes[a].nd_off);
    if (n < 0)
        return -1;
    p->pr_nodes[n].nd_op = op;
    p->pr_nodes[n].nd_op_off = op_off;
    p->pr_nodes[n].nd_a = a;
    p->pr_nodes[n].nd_b = b;
    p->pr_nodes[n].nd_type = (jd_val_type_t)type;
    return jd_expr_measure(p, n);
}

/* ND_NEG, ND_NOT, ND_ISNULL, ND_NOTNULL around child a. */
static int jd_expr_mk_unary(jd_parser_t *p, jd_node_kind_t kind, int a,
                            size_t off)
{
    jd_val_type_t type = JD_VAL_BOOL;
    int n;

    if (kind == ND_NEG) {
        if (jd_expr_want(p, a, JD_VAL_NUM, "unary '-'") < 0)
            return -1;
        type = JD_VAL_NUM;
    } else if (kind == ND_NOT &&
               jd_expr_want(p, a, JD_VAL_BOOL, "'not'") < 0) {
        return -1;
    }
    n = jd_expr_node(p, kind, kind == ND_NEG || kind == ND_NOT
                                  ? off : p->pr_nodes[a].nd_off);
    if (n < 0)
        return -1;
    p->pr_nodes[n].nd_a = a;
    p->pr_nodes[n].nd_op_off = off;
    p->pr_nodes[n].nd_type = type;
    return jd_expr_measure(p, n);
}

/* Argument checks of min, max, abs (numbers) and coalesce (one type);
 * returns the call's result type, or -1. */
static int jd_expr_check_call(jd_parser_t *p, jd_opcode_t op,
                              const int *args, size_t cnt)
{
    jd_val_type_t type = JD_VAL_NULL;
    char what[32], da[64];

    snprintf(what, sizeof what, "'%s'", jd_op_text[op]);
    if (op == OP_IF) {
        if (jd_expr_want(p, args[0], JD_VAL_BOOL, "if() condition") < 0)
            return -1;
        args++; /* the two choices: one type, like coalesce */
        cnt--;
    }
    for (size_t i = 0; i < cnt; i++) {
        const jd_node_t *nd = &p->pr_nodes[args[i]];
        if (op != OP_COALESCE && op != OP_IF) {
            if (jd_expr_want(p, args[i], JD_VAL_NUM, what) < 0)
                return -1;
            type = JD_VAL_NUM;
        } else if (type == JD_VAL_NULL) {
            type = nd->nd_type;
        } else if (nd->nd_type != JD_VAL_NULL && nd->nd_type != type) {
            return jd_expr_fail(p, nd->nd_off, "%s() arguments must "
                                "have one type, but %s is %s, not %s",
                                jd_op_text[op],
                                jd_expr_desc(p, args[i], da, sizeof da),
                                jd_expr_type_name(nd->nd_type),
                                jd_expr_type_name(type));
        }
    }
    return (int)type;
}

/* ---- parser ------------------------------------------------------------ */

static int jd_expr_parse(jd_parser_t *p);

static int jd_expr_literal(jd_parser_t *p, int negative)
{
    const jd_token_t *t = &p->pr_tok;
    int n = jd_expr_node(p, t->tk_kind == TK_STR ? ND_STR : ND_NUM,
                         t->tk_off);
    jd_node_t *nd;

    if (n < 0)
        return -1;
    nd = &p->pr_nodes[n];
    nd->nd_type = t->tk_kind == TK_STR ? JD_VAL_STR : JD_VAL_NUM;
    nd->nd_num = negative ? -t->tk_num : t->tk_num;
    nd->nd_lit = negative ? -t->tk_lit : t->tk_lit;
    nd->nd_unit = t->tk_unit;
    nd->nd_str = t->tk_str;
    nd->nd_str_len = t->tk_str_len;
    return jd_expr_advance(p) < 0 ? -1 : n;
}

/* One element of an `in` list: ["-"] NUMBER | STRING, of type `want`. */
static int jd_expr_parse_element(jd_parser_t *p, jd_val_type_t want,
                                 const char *lhs)
{
    size_t off = p->pr_tok.tk_off;
    int neg = p->pr_tok.tk_kind == TK_MINUS;
    char tb[40];

    if (neg && jd_expr_advance(p) < 0)
        return -1;
    if (p->pr_tok.tk_kind != TK_NUM &&
        (neg || p->pr_tok.tk_kind != TK_STR))
        return jd_expr_fail(p, p->pr_tok.tk_off, "expected a number or a "
                            "string in the list, got %s",
                            jd_expr_tok_desc(p, tb, sizeof tb));
    if ((p->pr_tok.tk_kind == TK_STR) != (want == JD_VAL_STR))
        return jd_expr_fail(p, off, "%s is %s, but this list element is %s",
                            lhs, jd_expr_type_name(want),
                            jd_expr_type_name(p->pr_tok.tk_kind == TK_STR
                                              ? JD_VAL_STR : JD_VAL_NUM));
    return jd_expr_literal(p, neg);
}

/* After `X in`: parses "[" literal ("," literal)* "]". */
static int jd_expr_parse_in(jd_parser_t *p, int x, size_t op_off)
{
    jd_val_type_t want = p->pr_nodes[x].nd_type;
    size_t first = p->pr_arg_cnt;
    char desc[64], tb[40];
    int n;

    jd_expr_desc(p, x, desc, sizeof desc);
    if (want != JD_VAL_NUM && want != JD_VAL_STR)
        return jd_expr_fail(p, p->pr_nodes[x].nd_off, "'in' needs a number "
                            "or a string on its left, but %s is %s", desc,
                            jd_expr_type_name(want));
    if (p->pr_tok.tk_kind != TK_LBRACK)
        return jd_expr_fail(p, p->pr_tok.tk_off, "expected '[' after 'in'");
    do {
        if (jd_expr_advance(p) < 0 ||
            (n = jd_expr_parse_element(p, want, desc)) < 0)
            return -1;
        p->pr_args[p->pr_arg_cnt++] = n;
    } while (p->pr_tok.tk_kind == TK_COMMA);
    if (p->pr_tok.tk_kind != TK_RBRACK)
        return jd_expr_fail(p, p->pr_tok.tk_off, "expected ',' or ']' in the "
                            "list, got %s", jd_expr_tok_desc(p, tb, sizeof tb));
    if (jd_expr_advance(p) < 0 || (n = jd_expr_mk_unary(p, ND_IN, x,
                                                        op_off)) < 0)
        return -1;
    p->pr_nodes[n].nd_b = (int)first;
    p->pr_nodes[n].nd_cnt = p->pr_arg_cnt - first;
    return n;
}

/* Parses "(" expr ("," expr)* ")" after a function name. Arguments are
 * collected locally first, because nested calls use pr_args meanwhile. */
static int jd_expr_parse_call(jd_parser_t *p, size_t fi, size_t off)
{
    int args[JD_EXPR_DEPTH_MAX + 1], type, n;
    size_t cnt = 0;

    if (p->pr_tok.tk_kind != TK_RPAREN) {
        for (;;) {
            if (cnt == JD_EXPR_DEPTH_MAX)
                return jd_expr_fail(p, p->pr_tok.tk_off, "too many arguments");
            if ((args[cnt++] = jd_expr_parse(p)) < 0)
                return -1;
            if (p->pr_tok.tk_kind != TK_COMMA)
                break;
            if (jd_expr_advance(p) < 0)
                return -1;
        }
    }
    if (p->pr_tok.tk_kind != TK_RPAREN)
        return jd_expr_fail(p, p->pr_tok.tk_off,
                            "expected ')' after function arguments");
    if (cnt < jd_funcs[fi].min_args || cnt > jd_funcs[fi].max_args)
        return jd_expr_fail(p, off, "%s() takes %s%zu argument%s, got %zu",
                            jd_funcs[fi].fn, jd_funcs[fi].max_args == jd_funcs[fi].min_args ?
                            "exactly " : "at least ", jd_funcs[fi].min_args,
                            jd_funcs[fi].min_args == 1 ? "" : "s", cnt);
    if ((type = jd_expr_check_call(p, jd_funcs[fi].op, args, cnt)) < 0 ||
        jd_expr_advance(p) < 0 || (n = jd_expr_node(p, ND_CALL, off)) < 0)
        return -1;
    p->pr_nodes[n].nd_op = jd_funcs[fi].op;
    p->pr_nodes[n].nd_type = (jd_val_type_t)type;
    p->pr_nodes[n].nd_b = (int)p->pr_arg_cnt;
    p->pr_nodes[n].nd_cnt = cnt;
    memcpy(&p->pr_args[p->pr_arg_cnt], args, cnt * sizeof args[0]);
    p->pr_arg_cnt += cnt;
    return jd_expr_measure(p, n);
}

/* A signal reference; remembers the signal for jd_expr_signals(). */
static int jd_expr_signal(jd_parser_t *p, const char *name, size_t len,
                          size_t off)
{
    int id = jd_signals_lookup(name, len), now = 0, n;
    char hint[96];

    if (id < 0 && len == 3 && !memcmp(name, "now", 3)) {
        id = JD_SIG_AS_OF;
        now = 1;
    }
    if (id < 0) {
        jd_expr_suggest(name, len, 0, hint, sizeof hint);
        return jd_expr_fail(p, off, "unknown signal '%.*s'%s",
                            len > 64 ? 64 : (int)len, name, hint);
    }
    if ((n = jd_expr_node(p, ND_SIG, off)) < 0)
        return -1;
    p->pr_nodes[n].nd_str = (size_t)id;
    p->pr_nodes[n].nd_now = now;
    p->pr_nodes[n].nd_type = jd_signals_type((jd_signal_id_t)id);
    if (!p->pr_sig_seen[id]) {
        p->pr_sig_seen[id] = 1;
        p->pr_sig_order[p->pr_sig_cnt++] = (jd_signal_id_t)id;
    }
    return n;
}

/* IDENT: a function call when "(" follows, else a signal. */
static int jd_expr_parse_ident(jd_parser_t *p)
{
    const char *name = p->pr_text + p->pr_tok.tk_off;
    size_t len = p->pr_tok.tk_len, off = p->pr_tok.tk_off, fi;
    char hint[96];

    if (jd_expr_advance(p) < 0)
        return -1;
    for (fi = 0; fi < JD_NFUNCS; fi++)
        if (strlen(jd_funcs[fi].fn) == len && !memcmp(name, jd_funcs[fi].fn,
                                                      len))
            break;
    if (p->pr_tok.tk_kind != TK_LPAREN) {
        if (fi < JD_NFUNCS && jd_signals_lookup(name, len) < 0)
            return jd_expr_fail(p, p->pr_tok.tk_off, "expected '(' after "
                                "function name '%s'", jd_funcs[fi].fn);
        return jd_expr_signal(p, name, len, off);
    }
    if (fi == JD_NFUNCS) {
        jd_expr_suggest(name, len, 1, hint, sizeof hint);
        return jd_expr_fail(p, off, "unknown function '%.*s'%s",
                            len > 64 ? 64 : (int)len, name, hint);
    }
    if (jd_expr_advance(p) < 0)
        return -1;
    return jd_expr_parse_call(p, fi, off);
}

static int jd_expr_parse_primary(jd_parser_t *p)
{
    size_t off = p->pr_tok.tk_off;
    char tb[40];
    int n;

    switch (p->pr_tok.tk_kind) {
    case TK_NUM: case TK_STR:
        return jd_expr_literal(p, 0);
    case TK_NULL: case TK_TRUE: case TK_FALSE:
        if ((n = jd_expr_node(p, p->pr_tok.tk_kind == TK_NULL ? ND_NULL
                                                              : ND_BOOL,
                              off)) < 0)
            return -1;
        p->pr_nodes[n].nd_type = p->pr_tok.tk_kind == TK_NULL ? JD_VAL_NULL
                                                              : JD_VAL_BOOL;
        p->pr_nodes[n].nd_num = p->pr_tok.tk_kind == TK_TRUE;
        return jd_expr_advance(p) < 0 ? -1 : n;
    case TK_IDENT:
        return jd_expr_parse_ident(p);
    case TK_LPAREN:
        if (jd_expr_advance(p) < 0 || (n = jd_expr_parse(p)) < 0)
            return -1;
        if (p->pr_tok.tk_kind != TK_RPAREN)
            return jd_expr_fail(p, p->pr_tok.tk_off, "expected ')' to close "
                                "'(', got %s",
                                jd_expr_tok_desc(p, tb, sizeof tb));
        p->pr_nodes[n].nd_off = off; /* errors point at the '(' */
        return jd_expr_advance(p) < 0 ? -1 : n;
    default:
        return jd_expr_fail(p, off, "expected a value, got %s",
                            jd_expr_tok_desc(p, tb, sizeof tb));
    }
}

/* Prefix operators (unary '-' here, 'not' in parse_not) recurse, so they
 * count towards the parser's recursion bound like parentheses do. The
 * bound is twice the tree-depth limit (checked on nodes, jd_expr_node):
 * normalised text adds at most one pair of parentheses per tree level, so
 * whatever compiled also compiles again from its normalised text. */
#define JD_EXPR_PARSE_DEPTH_MAX (2 * JD_EXPR_DEPTH_MAX + 2)

static int jd_expr_enter(jd_parser_t *p)
{
    if (++p->pr_depth <= JD_EXPR_PARSE_DEPTH_MAX)
        return 0;
    return jd_expr_fail(p, p->pr_tok.tk_off, "expression is nested too "
                        "deeply (limit %d levels)", JD_EXPR_PARSE_DEPTH_MAX);
}

static int jd_expr_parse_unary(jd_parser_t *p)
{
    size_t off = p->pr_tok.tk_off;
    int a;

    if (p->pr_tok.tk_kind != TK_MINUS)
        return jd_expr_parse_primary(p);
    if (jd_expr_enter(p) < 0 || jd_expr_advance(p) < 0 ||
        (a = jd_expr_parse_unary(p)) < 0)
        return -1;
    p->pr_depth--;
    return jd_expr_mk_unary(p, ND_NEG, a, off);
}

static jd_opcode_t jd_expr_binop(jd_tok_kind_t k)
{
    switch (k) {
    case TK_PLUS: return OP_ADD;
    case TK_MINUS: return OP_SUB;
    case TK_STAR: return OP_MUL;
    case TK_SLASH: return OP_DIV;
    case TK_LT: return OP_LT;
    case TK_LE: return OP_LE;
    case TK_GT: return OP_GT;
    case TK_GE: return OP_GE;
    case TK_EQ: return OP_EQ;
    case TK_NE: return OP_NE;
    case TK_AND: return OP_AND;
    case TK_OR: return OP_OR;
    default: return OP_CONST;
    }
}

/* One left-associative level: operand (op operand)*, for the operators
 * whose tokens are listed in ops[] (terminated by TK_EOF). */
static int jd_expr_parse_level(jd_parser_t *p, int (*operand)(jd_parser_t *),
                               const jd_tok_kind_t *ops)
{
    int a = operand(p), b;

    while (a >= 0) {
        jd_tok_kind_t k = p->pr_tok.tk_kind;
        size_t i, off = p->pr_tok.tk_off;
        for (i = 0; ops[i] != TK_EOF && ops[i] != k; i++)
            ;
        if (ops[i] == TK_EOF)
            break;
        if (jd_expr_advance(p) < 0 || (b = operand(p)) < 0)
            return -1;
        a = jd_expr_mk_bin(p, jd_expr_binop(k), a, b, off);
    }
    return a;
}

static int jd_expr_parse_product(jd_parser_t *p)
{
    static const jd_tok_kind_t ops[] = {TK_STAR, TK_SLASH, TK_EOF};
    return jd_expr_parse_level(p, jd_expr_parse_unary, ops);
}

static int jd_expr_parse_sum(jd_parser_t *p)
{
    static const jd_tok_kind_t ops[] = {TK_PLUS, TK_MINUS, TK_EOF};
    return jd_expr_parse_level(p, jd_expr_parse_product, ops);
}

static int jd_expr_is_cmp(jd_tok_kind_t k)
{
    return (k >= TK_LT && k <= TK_NE) || k == TK_IS || k == TK_IN;
}

/* After `X is`: "null" or "not null". */
static int jd_expr_parse_is(jd_parser_t *p, int a, size_t off)
{
    jd_node_kind_t kind = ND_ISNULL;

    if (p->pr_tok.tk_kind == TK_NOT) {
        kind = ND_NOTNULL;
        if (jd_expr_advance(p) < 0)
            return -1;
    }
    if (p->pr_tok.tk_kind != TK_NULL)
        return jd_expr_fail(p, p->pr_tok.tk_off, "expected 'null' after "
                            "'%s'", kind == ND_ISNULL ? "is" : "is not");
    if (jd_expr_advance(p) < 0)
        return -1;
    return jd_expr_mk_unary(p, kind, a, off);
}

static int jd_expr_parse_cmp(jd_parser_t *p)
{
    int a = jd_expr_parse_sum(p), b;
    jd_tok_kind_t k = p->pr_tok.tk_kind;
    size_t off = p->pr_tok.tk_off;

    if (a < 0)
        return -1;
    if (k == TK_NOT)
        return jd_expr_fail(p, off, "'not' goes before a condition: write "
                            "'not (X in [...])' or 'X is not null'");
    if (!jd_expr_is_cmp(k))
        return a;
    if (jd_expr_advance(p) < 0)
        return -1;
    if (k == TK_IS)
        a = jd_expr_parse_is(p, a, off);
    else if (k == TK_IN)
        a = jd_expr_parse_in(p, a, off);
    else if ((b = jd_expr_parse_sum(p)) >= 0)
        a = jd_expr_mk_bin(p, jd_expr_binop(k), a, b, off);
    else
        return -1;
    if (a >= 0 && jd_expr_is_cmp(p->pr_tok.tk_kind))
        return jd_expr_fail(p, p->pr_tok.tk_off, "comparisons cannot be "
                            "chained; add parentheses");
    return a;
}

static int jd_expr_parse_not(jd_parser_t *p)
{
    size_t off = p->pr_tok.tk_off;
    int a;

    if (p->pr_tok.tk_kind != TK_NOT)
        return jd_expr_parse_cmp(p);
    if (jd_expr_enter(p) < 0 || jd_expr_advance(p) < 0 ||
        (a = jd_expr_parse_not(p)) < 0)
        return -1;
    p->pr_depth--;
    return jd_expr_mk_unary(p, ND_NOT, a, off);
}

static int jd_expr_parse_and(jd_parser_t *p)
{
    static const jd_tok_kind_t ops[] = {TK_AND, TK_EOF};
    return jd_expr_parse_level(p, jd_expr_parse_not, ops);
}

static int jd_expr_parse_or(jd_parser_t *p)
{
    static const jd_tok_kind_t ops[] = {TK_OR, TK_EOF};
    return jd_expr_parse_level(p, jd_expr_parse_and, ops);
}

/* expr: entered for the whole text, inside parentheses and for each
 * function argument. */
static int jd_expr_parse(jd_parser_t *p)
{
    int n;

    if (jd_expr_enter(p) < 0)
        return -1;
    n = jd_expr_parse_or(p);
    p->pr_depth--;
    return n;
}

/* ---- emission and packing ---------------------------------------------- */

typedef struct jd_emit {
    jd_op_t    *em_ops;
    size_t      em_op_cnt;
    jd_value_t *em_consts;
    size_t     *em_const_str; /* pool offset of a string constant */
    size_t      em_const_cnt;
} jd_emit_t;

static void jd_expr_emit_op(jd_emit_t *em, jd_opcode_t code, size_t cnt,
                            size_t arg)
{
    jd_op_t *op = &em->em_ops[em->em_op_cnt++];
    op->op_code = (uint8_t)code;
    op->op_cnt = (uint16_t)cnt;
    op->op_arg = (uint32_t)arg;
}

static size_t jd_expr_emit_const(jd_emit_t *em, const jd_node_t *nd)
{
    jd_value_t *v = &em->em_consts[em->em_const_cnt];

    memset(v, 0, sizeof *v);
    em->em_const_str[em->em_const_cnt] = (size_t)-1;
    v->type = nd->nd_type;
    v->num = nd->nd_num;
    if (nd->nd_kind == ND_STR)
        em->em_const_str[em->em_const_cnt] = nd->nd_str;
    return em->em_const_cnt++;
}

/* A comparison of a signal with a literal as one OP_SIGCMP; 0 when nd
 * has another shape. */
static int jd_expr_emit_sigcmp(jd_emit_t *em, const jd_parser_t *p,
                               const jd_node_t *nd)
{
    const jd_node_t *a = &p->pr_nodes[nd->nd_a], *b = &p->pr_nodes[nd->nd_b];
    if (nd->nd_op < OP_LT || nd->nd_op > OP_NE || a->nd_kind != ND_SIG ||
        (b->nd_kind != ND_NUM && b->nd_kind != ND_STR))
        return 0;
    size_t c = jd_expr_emit_const(em, b);
    jd_expr_emit_op(em, OP_SIGCMP, (size_t)nd->nd_op << 8 | a->nd_str, c);
    return 1;
}

/* Postfix order: operands left to right, then the operator. Recursion is
 * bounded by JD_EXPR_DEPTH_MAX. */
static void jd_expr_emit(jd_emit_t *em, const jd_parser_t *p, int n)
{
    const jd_node_t *nd = &p->pr_nodes[n];
    size_t first;

    switch (nd->nd_kind) {
    case ND_NUM: case ND_STR: case ND_NULL: case ND_BOOL:
        jd_expr_emit_op(em, OP_CONST, 0, jd_expr_emit_const(em, nd));
        return;
    case ND_SIG: jd_expr_emit_op(em, OP_SIG, 0, nd->nd_str); return;
    case ND_CALL:
        for (size_t i = 0; i < nd->nd_cnt; i++)
            jd_expr_emit(em, p, p->pr_args[(size_t)nd->nd_b + i]);
        jd_expr_emit_op(em, nd->nd_op, nd->nd_cnt, 0);
        return;
    case ND_IN:
        jd_expr_emit(em, p, nd->nd_a);
        first = em->em_const_cnt;
        for (size_t i = 0; i < nd->nd_cnt; i++)
            jd_expr_emit_const(em, &p->pr_nodes[p->pr_args[nd->nd_b + i]]);
        jd_expr_emit_op(em, OP_IN, nd->nd_cnt, first);
        return;
    case ND_BIN:
        if (jd_expr_emit_sigcmp(em, p, nd))
            return;
        jd_expr_emit(em, p, nd->nd_a);
        jd_expr_emit(em, p, nd->nd_b);
        jd_expr_emit_op(em, nd->nd_op, 0, 0);
        return;
    default:
        if ((nd->nd_kind == ND_ISNULL || nd->nd_kind == ND_NOTNULL) &&
            p->pr_nodes[nd->nd_a].nd_kind == ND_SIG) {
            jd_expr_emit_op(em, OP_SIGNULL, nd->nd_kind == ND_ISNULL,
                            p->pr_nodes[nd->nd_a].nd_str);
            return;
        }
        jd_expr_emit(em, p, nd->nd_a);
        jd_expr_emit_op(em, nd->nd_kind == ND_NEG ? OP_NEG
                            : nd->nd_kind == ND_NOT ? OP_NOT
                            : nd->nd_kind == ND_ISNULL ? OP_ISNULL
                                                       : OP_NOTNULL, 0, 0);
    }
}

static size_t jd_expr_align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* Copies the emitted program, signal list, string pool and text into one
 * allocation laid out as: header | consts | ops | signal ids | pool | text. */
static jd_expr_t *jd_expr_pack(const jd_parser_t *p, const jd_emit_t *em,
                               const jd_sbuf_t *text, jd_val_type_t type)
{
    size_t o_consts = jd_expr_align8(sizeof(jd_expr_t));
    size_t o_ops = o_consts + em->em_const_cnt * sizeof(jd_value_t);
    size_t o_sigs = o_ops + em->em_op_cnt * sizeof(jd_op_t);
    size_t o_pool = o_sigs + p->pr_sig_cnt * sizeof(jd_signal_id_t);
    size_t o_text = o_pool + p->pr_pool_len;
    char *mem = malloc(o_text + text->sb_len + 1);
    jd_expr_t *e = (jd_expr_t *)(void *)mem;
    jd_value_t *consts = (jd_value_t *)(void *)(mem + o_consts);

    if (!mem)
        return NULL;
    e->ex_type = type;
    e->ex_op_cnt = em->em_op_cnt;
    e->ex_const_cnt = em->em_const_cnt;
    e->ex_sig_cnt = p->pr_sig_cnt;
    memcpy(consts, em->em_consts, em->em_const_cnt * sizeof *consts);
    memcpy(mem + o_ops, em->em_ops, em->em_op_cnt * sizeof(jd_op_t));
    memcpy(mem + o_sigs, p->pr_sig_order,
           p->pr_sig_cnt * sizeof(jd_signal_id_t));
    memcpy(mem + o_pool, p->pr_pool, p->pr_pool_len);
    memcpy(mem + o_text, text->sb_buf, text->sb_len + 1);
    for (size_t i = 0; i < em->em_const_cnt; i++)
        if (em->em_const_str[i] != (size_t)-1)
            consts[i].str = mem + o_pool + em->em_const_str[i];
    e->ex_consts = consts;
    e->ex_ops = (const jd_op_t *)(const void *)(mem + o_ops);
    e->ex_sigs = (const jd_signal_id_t *)(const void *)(mem + o_sigs);
    e->ex_text = mem + o_text;
    return e;
}

/* Emits and packs the parsed tree rooted at `root`. */
static int jd_expr_finish(jd_parser_t *p, int root, jd_expr_t **out)
{
    size_t cap = p->pr_node_cnt;
    jd_emit_t em = {0};
    jd_sbuf_t text = {0};
    int rc = 0;

    em.em_ops = malloc(cap * sizeof *em.em_ops);
    em.em_consts = malloc(cap * sizeof *em.em_consts);
    em.em_const_str = malloc(cap * sizeof *em.em_const_str);
    jd_expr_print(&text, p, root);
    if (!em.em_ops || !em.em_consts || !em.em_const_str || !text.sb_buf) {
        rc = jd_err_set(p->pr_err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    } else {
        jd_expr_emit(&em, p, root);
        *out = jd_expr_pack(p, &em, &text, p->pr_nodes[root].nd_type);
        if (!*out)
            rc = jd_err_set(p->pr_err, JD_ERR_FATAL, JD_E_NOMEM,
                            "out of memory");
    }
    free(em.em_ops);
    free(em.em_consts);
    free(em.em_const_str);
    free(text.sb_buf);
    return rc;
}

/* Whether the current token is a keyword written in the wrong case
 * ("AND"), for a hint in the message. */
static int jd_expr_is_upper_keyword(const jd_parser_t *p)
{
    const jd_token_t *t = &p->pr_tok;

    if (t->tk_kind != TK_IDENT)
        return 0;
    for (size_t i = 0; i < JD_NKEYWORDS; i++)
        if (strlen(jd_keywords[i].kw) == t->tk_len &&
            !strncasecmp(p->pr_text + t->tk_off, jd_keywords[i].kw, t->tk_len))
            return 1;
    return 0;
}

/* Sets up the parser's tables (sized from the text), parses the whole
 * text and checks that nothing follows the expression. Returns the root
 * node or -1. */
static int jd_expr_parse_all(jd_parser_t *p)
{
    char tb[40];
    int root;

    p->pr_node_cap = p->pr_len + 2;
    p->pr_nodes = malloc(p->pr_node_cap * sizeof *p->pr_nodes);
    p->pr_args = malloc(p->pr_node_cap * sizeof *p->pr_args);
    p->pr_pool = malloc(p->pr_len + 1);
    if (!p->pr_nodes || !p->pr_args || !p->pr_pool) {
        jd_err_set(p->pr_err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        return -1;
    }
    if (jd_expr_advance(p) < 0)
        return -1;
    if (p->pr_tok.tk_kind == TK_EOF)
        return jd_expr_fail(p, p->pr_tok.tk_off, "empty expression");
    if ((root = jd_expr_parse(p)) < 0)
        return -1;
    if (p->pr_tok.tk_kind != TK_EOF)
        return jd_expr_fail(p, p->pr_tok.tk_off, "expected an operator or end "
                            "of expression, got %s%s",
                            jd_expr_tok_desc(p, tb, sizeof tb),
                            jd_expr_is_upper_keyword(p) ?
                            " (keywords are lower case)" : "");
    return root;
}

int jd_expr_compile(const char *text, jd_expr_t **out, size_t *err_col,
                    jd_err_t *err)
{
    jd_parser_t p;
    int root, rc;

    *out = NULL;
    if (err_col)
        *err_col = 1;
    if (!text)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_RULES,
                          "column 1: empty expression");
    memset(&p, 0, sizeof p);
    p.pr_text = text;
    p.pr_len = strlen(text);
    p.pr_err = err;
    if (p.pr_len > JD_EXPR_TEXT_MAX)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_RULES, "column 1: "
                          "expression is longer than %d bytes",
                          JD_EXPR_TEXT_MAX);
    root = jd_expr_parse_all(&p);
    rc = root < 0 ? JD_ERR_FATAL : jd_expr_finish(&p, root, out);
    if (rc != 0 && err_col)
        *err_col = p.pr_failed ? p.pr_err_col : 1;
    free(p.pr_nodes);
    free(p.pr_args);
    free(p.pr_pool);
    return rc;
}

void jd_expr_destroy(jd_expr_t *e)
{
    free(e);
}

/* ---- evaluation -------------------------------------------------------- */

static const jd_value_t jd_null = {JD_VAL_NULL, 0, NULL};

static jd_value_t jd_expr_bool(int b)
{
    jd_value_t v = {JD_VAL_BOOL, b ? 1.0 : 0.0, NULL};
    return v;
}

/* A number, or null when it is not finite (overflow, 0/0). */
static jd_value_t jd_expr_num(double d)
{
    jd_value_t v = {JD_VAL_NUM, d, NULL};
    return isfinite(d) ? v : jd_null;
}

static jd_value_t jd_expr_arith(jd_opcode_t op, jd_value_t a, jd_value_t b)
{
    if (a.type != JD_VAL_NUM || b.type != JD_VAL_NUM)
        return jd_null;
    switch (op) {
    case OP_ADD: return jd_expr_num(a.num + b.num);
    case OP_SUB: return jd_expr_num(a.num - b.num);
    case OP_MUL: return jd_expr_num(a.num * b.num);
    default: return b.num == 0 ? jd_null : jd_expr_num(a.num / b.num);
    }
}

/* -1, 0, 1 when a and b are comparable (same non-null type), else 2. */
static int jd_expr_order(jd_value_t a, jd_value_t b)
{
    int c;

    if (a.type != b.type || a.type == JD_VAL_NULL)
        return 2;
    if (a.type == JD_VAL_STR) {
        c = strcmp(a.str, b.str);
        return (c > 0) - (c < 0);
    }
    if (a.num != a.num || b.num != b.num)
        return 2; /* NaN from a careless producer compares like null */
    return (a.num > b.num) - (a.num < b.num);
}

static jd_value_t jd_expr_compare(jd_opcode_t op, jd_value_t a, jd_value_t b)
{
    int c = jd_expr_order(a, b);

    if (c == 2)
        return jd_expr_bool(0);
    switch (op) {
    case OP_LT: return jd_expr_bool(c < 0);
    case OP_LE: return jd_expr_bool(c <= 0);
    case OP_GT: return jd_expr_bool(c > 0);
    case OP_GE: return jd_expr_bool(c >= 0);
    case OP_EQ: return jd_expr_bool(c == 0);
    default: return jd_expr_bool(c != 0);
    }
}

/* min, max, coalesce over argv[0..cnt). */
static jd_value_t jd_expr_call(jd_opcode_t op, const jd_value_t *argv,
                               size_t cnt)
{
    jd_value_t r = argv[0];

    for (size_t i = 0; i < cnt; i++) {
        if (op == OP_COALESCE) {
            if (argv[i].type != JD_VAL_NULL)
                return argv[i];
            continue;
        }
        if (argv[i].type != JD_VAL_NUM)
            return jd_null;
        if (op == OP_MIN ? argv[i].num < r.num : argv[i].num > r.num)
            r = argv[i];
    }
    return op == OP_COALESCE ? jd_null : r;
}

static int jd_expr_in(jd_value_t x, const jd_value_t *list, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++)
        if (jd_expr_order(x, list[i]) == 0)
            return 1;
    return 0;
}

/* The interpreter loop: one case per opcode, kept in one switch so the hot
 * path is a single predictable dispatch. The compiler proved the stack
 * never exceeds JD_EXPR_DEPTH_MAX and that every op finds its operands. */
jd_value_t jd_expr_eval(const jd_expr_t *e, const jd_signals_t *sg)
{
    jd_value_t stk[JD_EXPR_DEPTH_MAX];
    size_t sp = 0; /* stk[sp - 1] is the top */

    for (size_t i = 0; i < e->ex_op_cnt; i++) {
        const jd_op_t *op = &e->ex_ops[i];
        jd_opcode_t code = (jd_opcode_t)op->op_code;
        switch (code) {
        case OP_CONST: stk[sp++] = e->ex_consts[op->op_arg]; break;
        case OP_SIG:
            stk[sp++] = *jd_signals_get(sg, (jd_signal_id_t)op->op_arg);
            break;
        case OP_NEG: case OP_ABS:
            stk[sp - 1] = stk[sp - 1].type != JD_VAL_NUM ? jd_null
                : jd_expr_num(code == OP_NEG ? -stk[sp - 1].num
                                             : fabs(stk[sp - 1].num));
            break;
        case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV:
            sp--;
            stk[sp - 1] = jd_expr_arith(code, stk[sp - 1], stk[sp]);
            break;
        case OP_LT: case OP_LE: case OP_GT: case OP_GE: case OP_EQ: case OP_NE:
            sp--;
            stk[sp - 1] = jd_expr_compare(code, stk[sp - 1], stk[sp]);
            break;
        case OP_AND: case OP_OR: {
            int a = jd_expr_truthy(stk[sp - 2]);
            int b = jd_expr_truthy(stk[--sp]);
            stk[sp - 1] = jd_expr_bool(code == OP_AND ? a && b : a || b);
            break;
        }
        case OP_NOT: stk[sp - 1] = jd_expr_bool(!jd_expr_truthy(stk[sp - 1]));
            break;
        case OP_ISNULL: case OP_NOTNULL:
            stk[sp - 1] = jd_expr_bool((stk[sp - 1].type == JD_VAL_NULL) ==
                                       (code == OP_ISNULL));
            break;
        case OP_IN:
            stk[sp - 1] = jd_expr_bool(jd_expr_in(stk[sp - 1],
                                       &e->ex_consts[op->op_arg], op->op_cnt));
            break;
        case OP_IF:
            sp -= 2;
            stk[sp - 1] = jd_expr_truthy(stk[sp - 1]) ? stk[sp] : stk[sp + 1];
            break;
        case OP_SIGCMP:
            stk[sp++] = jd_expr_compare((jd_opcode_t)(op->op_cnt >> 8),
                                        sg->sg_val[op->op_cnt & 0xff],
                                        e->ex_consts[op->op_arg]);
            break;
        case OP_SIGNULL:
            stk[sp++] = jd_expr_bool((sg->sg_val[op->op_arg].type == JD_VAL_NULL) ==
                                     (op->op_cnt == 1));
            break;
        case OP_MIN: case OP_MAX: case OP_COALESCE:
            sp -= op->op_cnt;
            stk[sp] = jd_expr_call(code, &stk[sp], op->op_cnt);
            sp++;
            break;
        }
    }
    return sp ? stk[0] : jd_null;
}

int jd_expr_truthy(jd_value_t v)
{
    switch (v.type) {
    case JD_VAL_BOOL: case JD_VAL_NUM: return v.num != 0;
    case JD_VAL_STR: return v.str && v.str[0];
    default: return 0;
    }
}

/* ---- accessors --------------------------------------------------------- */

jd_val_type_t jd_expr_type(const jd_expr_t *e)
{
    return e->ex_type;
}

const char *jd_expr_text(const jd_expr_t *e)
{
    return e->ex_text;
}

size_t jd_expr_signals(const jd_expr_t *e, const jd_signal_id_t **ids)
{
    *ids = e->ex_sigs;
    return e->ex_sig_cnt;
}

int jd_expr_parse_duration(const char *s, int64_t *ms)
{
    size_t num_len, len;
    double lit, v;
    char unit;

    if (!s || !isdigit((unsigned char)s[0]) ||
        jd_expr_scan_number(s, &num_len, &len, &lit, &unit) != 0 ||
        s[len] != '\0' ||
        (!unit && lit != 0))
        return -1;
    v = lit * jd_expr_unit_ms(unit);
    if (v > 1e15) /* ~31,000 years: keeps llround and int64 math safe */
        return -1;
    *ms = llround(v);
    return 0;
}

const char *jd_expr_err_what(const jd_err_t *err)
{
    const char *m = err->err_msg;
    size_t n;

    if (strncmp(m, "column ", 7) != 0)
        return m;
    n = strspn(m + 7, "0123456789");
    if (n > 0 && !strncmp(m + 7 + n, ": ", 2))
        return m + 7 + n + 2;
    return m;
}
