/*
 * jd_config_load: the two loaders of jd_config that read outside the
 * process (contract in jd_config.h): the YAML file (or a buffer) and the
 * JOURNEYD_* environment. Both hand every value to jd_config_set, so a
 * value from either is parsed and checked like a default or a flag.
 *
 * The YAML file is loaded with libyaml's document API and flattened to
 * dotted keys ("redis.port"); a sequence becomes a comma-separated list.
 * The walk is bounded against alias cycles and alias bombs (below). An
 * error names FILE:LINE:COLUMN.
 *
 * Runs on the main thread at start-up only; the config being loaded is
 * the caller's, and the parser and document are freed before returning.
 */
#include "jd_config_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ---- YAML file ------------------------------------------------------- */

/*
 * libyaml's document API resolves an alias to the node of its anchor, so a
 * loaded document is a graph, not a tree: `a: &x {b: *x}` is a cycle, and
 * a few anchors each used many times (the "billion laughs") expand a few
 * hundred bytes into millions of keys. The walk therefore keeps the chain
 * of mappings it is inside (a mapping met again on that chain is a cycle),
 * bounds that chain's length, and marks every node it visits: a node
 * visited again was reached through an alias, and those repeats are
 * counted (an alias costs the values under its anchor; a bomb stops after
 * JD_YAML_MAX_AGAIN repeated values, before the open-ended key families
 * such as kafka.* have grown). All visits together are bounded too. A configuration file
 * has a few hundred nodes and four levels; the bounds are far above that.
 */
#define JD_YAML_MAX_DEPTH 32
#define JD_YAML_MAX_AGAIN 1000
#define JD_YAML_MAX_NODES 10000

typedef struct jd_yaml_walk {
    jd_config_t     *yw_cf;
    yaml_document_t *yw_doc;
    const char      *yw_path;
    jd_err_t        *yw_err;
    yaml_node_t     *yw_chain[JD_YAML_MAX_DEPTH];  /* mappings being walked */
    size_t           yw_depth;
    unsigned char   *yw_seen;                      /* per node: visited */
    const yaml_mark_t *yw_alias_at;  /* key of the outermost alias being walked */
    size_t           yw_again;                     /* visits of a seen node */
    size_t           yw_nodes;                     /* all visits */
} jd_yaml_walk_t;

static int jd_yaml_node(jd_yaml_walk_t *w, yaml_node_t *node, const char *key);

/* "FILE:LINE:COLUMN" of a mark, for error messages. */
static void jd_yaml_origin(const jd_yaml_walk_t *w, const yaml_mark_t *mark,
                           char *out, size_t cap)
{
    snprintf(out, cap, "%s:%zu:%zu", w->yw_path, mark->line + 1, mark->column + 1);
}

/* A sequence of scalars becomes "a,b,c". */
static int jd_yaml_list(jd_yaml_walk_t *w, yaml_node_t *node, const char *key,
                        const char *origin)
{
    char buf[4096] = "";
    size_t n = 0;
    for (yaml_node_item_t *it = node->data.sequence.items.start;
         it < node->data.sequence.items.top; it++) {
        yaml_node_t *item = yaml_document_get_node(w->yw_doc, *it);
        if (!item || item->type != YAML_SCALAR_NODE)
            return jd_err_set(w->yw_err, JD_ERR_FATAL, JD_E_CONFIG,
                              "%s: %s: list items must be plain values", origin, key);
        n += (size_t)snprintf(buf + n, n < sizeof buf ? sizeof buf - n : 0, "%s%s",
                              n ? "," : "", (const char *)item->data.scalar.value);
    }
    if (n >= sizeof buf)
        return jd_err_set(w->yw_err, JD_ERR_FATAL, JD_E_CONFIG,
                          "%s: %s: list is too long", origin, key);
    return jd_config_set(w->yw_cf, key, buf, origin, w->yw_err);
}

/* Before walking `v`, the value of the key at `at`: refuses a cycle, a
 * nesting past JD_YAML_MAX_DEPTH and an expansion past JD_YAML_MAX_NODES,
 * each with the position of the key that leads there. */
static int jd_yaml_enter(jd_yaml_walk_t *w, const yaml_node_t *v, const char *key,
                         const yaml_mark_t *at)
{
    char origin[600];

    size_t id = (size_t)(v - w->yw_doc->nodes.start);

    jd_yaml_origin(w, at, origin, sizeof origin);
    if (w->yw_seen[id] && ++w->yw_again > JD_YAML_MAX_AGAIN)
        return jd_err_set(w->yw_err, JD_ERR_FATAL, JD_E_CONFIG,
                          "%s: %s: aliases repeat more than %d values (an alias bomb?)",
                          origin, key, JD_YAML_MAX_AGAIN);
    w->yw_seen[id] = 1;
    if (++w->yw_nodes > JD_YAML_MAX_NODES)
        return jd_err_set(w->yw_err, JD_ERR_FATAL, JD_E_CONFIG,
                          "%s: %s: the file has more than %d values", origin, key,
                          JD_YAML_MAX_NODES);
    if (v->type != YAML_MAPPING_NODE)
        return 0;
    for (size_t i = 0; i < w->yw_depth; i++)
        if (w->yw_chain[i] == v)
            return jd_err_set(w->yw_err, JD_ERR_FATAL, JD_E_CONFIG,
                              "%s: %s: alias cycle (an alias refers to a mapping "
                              "that contains it)", origin, key);
    if (w->yw_depth == JD_YAML_MAX_DEPTH)
        return jd_err_set(w->yw_err, JD_ERR_FATAL, JD_E_CONFIG,
                          "%s: %s: nested deeper than %d levels", origin, key,
                          JD_YAML_MAX_DEPTH);
    return 0;
}

/* Walks `v`, the value of the key at `at`. libyaml keeps no position of
 * an alias, so errors inside a value reached through one name the key
 * whose value is the outermost alias: that is the line to fix. */
static int jd_yaml_value(jd_yaml_walk_t *w, yaml_node_t *v, const char *key,
                         const yaml_mark_t *at)
{
    int outer = !w->yw_alias_at && w->yw_seen[v - w->yw_doc->nodes.start];
    int rc;

    if (outer)
        w->yw_alias_at = at;
    rc = jd_yaml_enter(w, v, key, w->yw_alias_at ? w->yw_alias_at : at) ||
         jd_yaml_node(w, v, key);
    if (outer)
        w->yw_alias_at = NULL;
    return rc;
}

static int jd_yaml_mapping(jd_yaml_walk_t *w, yaml_node_t *node, const char *key)
{
    int rc = 0;

    w->yw_chain[w->yw_depth++] = node;
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
         !rc && p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(w->yw_doc, p->key);
        yaml_node_t *v = yaml_document_get_node(w->yw_doc, p->value);
        char full[512], origin[600];
        if (!k || k->type != YAML_SCALAR_NODE || !v) {
            jd_yaml_origin(w, &node->start_mark, origin, sizeof origin);
            rc = jd_err_set(w->yw_err, JD_ERR_FATAL, JD_E_CONFIG,
                            "%s: keys must be plain names", origin);
            break;
        }
        int n = snprintf(full, sizeof full, "%s%s%s", key, *key ? "." : "",
                         (const char *)k->data.scalar.value);
        if (n < 0 || (size_t)n >= sizeof full) {
            jd_yaml_origin(w, &k->start_mark, origin, sizeof origin);
            rc = jd_err_set(w->yw_err, JD_ERR_FATAL, JD_E_CONFIG,
                            "%s: key is longer than %zu bytes", origin, sizeof full - 1);
            break;
        }
        rc = jd_yaml_value(w, v, full, &k->start_mark);
    }
    w->yw_depth--;
    return rc ? JD_ERR_FATAL : 0;
}

static int jd_yaml_node(jd_yaml_walk_t *w, yaml_node_t *node, const char *key)
{
    char origin[600];

    jd_yaml_origin(w, &node->start_mark, origin, sizeof origin);
    switch (node->type) {
    case YAML_MAPPING_NODE:
        return jd_yaml_mapping(w, node, key);
    case YAML_SEQUENCE_NODE:
        return jd_yaml_list(w, node, key, origin);
    case YAML_SCALAR_NODE:
        if (!*key)
            return jd_err_set(w->yw_err, JD_ERR_FATAL, JD_E_CONFIG,
                              "%s: the file must be a mapping of keys", origin);
        return jd_config_set(w->yw_cf, key, (const char *)node->data.scalar.value,
                             origin, w->yw_err);
    default:
        return jd_err_set(w->yw_err, JD_ERR_FATAL, JD_E_CONFIG,
                          "%s: %s: unsupported YAML node", origin, key);
    }
}

/* Loads the first document of a parser whose input is set; `name` is the
 * file name of error messages. */
static int jd_config_load_parser(jd_config_t *cf, yaml_parser_t *parser,
                                 const char *name, jd_err_t *err)
{
    yaml_document_t doc;
    int rc = 0;

    if (!yaml_parser_load(parser, &doc))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG, "%s:%zu:%zu: %s", name,
                          parser->problem_mark.line + 1, parser->problem_mark.column + 1,
                          parser->problem ? parser->problem : "YAML syntax error");
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        jd_yaml_walk_t w = {.yw_cf = cf, .yw_doc = &doc, .yw_path = name, .yw_err = err};
        w.yw_seen = calloc((size_t)(doc.nodes.top - doc.nodes.start), 1);
        rc = w.yw_seen ? jd_yaml_node(&w, root, "")
                       : jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        free(w.yw_seen);
    }
    yaml_document_delete(&doc);
    return rc;
}

int jd_config_load_file(jd_config_t *cf, const char *path, jd_err_t *err)
{
    FILE *f = fopen(path, "rb");
    yaml_parser_t parser;
    int rc;

    if (!f)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "cannot open config file %s: %s", path, strerror(errno));
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    rc = jd_config_load_parser(cf, &parser, path, err);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

int jd_config_load_buffer(jd_config_t *cf, const char *text, size_t len,
                          const char *name, jd_err_t *err)
{
    yaml_parser_t parser;
    int rc;

    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    rc = jd_config_load_parser(cf, &parser, name, err);
    yaml_parser_delete(&parser);
    return rc;
}

/* ---- environment ------------------------------------------------------ */

void jd__config_env_name(const char *key, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "JOURNEYD_");
    for (const char *p = key; *p && n + 1 < cap; p++)
        out[n++] = (*p == '.') ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

/* JOURNEYD_KAFKA_<PROPERTY>: any librdkafka property from the
 * environment (how secrets such as JOURNEYD_KAFKA_SASL_PASSWORD reach a
 * container); the property is the rest lower-cased with '_' as '.', which
 * is exact because librdkafka property names contain no '_'. */
static int jd_config_env_kafka(jd_config_t *cf, jd_err_t *err)
{
    extern char **environ;
    static const char pfx[] = "JOURNEYD_KAFKA_";
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        char key[256], name[256];
        size_t n = 6;
        if (strncmp(*e, pfx, sizeof pfx - 1) != 0 || !eq || eq == *e + sizeof pfx - 1 ||
            (size_t)(eq - *e) >= sizeof name)
            continue;
        memcpy(key, "kafka.", 6);
        for (const char *p = *e + sizeof pfx - 1; p < eq && n + 1 < sizeof key; p++)
            key[n++] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
        key[n] = '\0';
        snprintf(name, sizeof name, "%.*s", (int)(eq - *e), *e);
        if (jd_config_set(cf, key, eq + 1, name, err))
            return JD_ERR_FATAL;
    }
    return 0;
}

int jd_config_load_env(jd_config_t *cf, jd_err_t *err)
{
    char name[256];
    for (size_t i = 0; i < JD_CONFIG_NKEYS; i++) {
        jd__config_env_name(jd__config_keys[i].ck_name, name, sizeof name);
        const char *v = getenv(name);
        if (v && jd_config_set(cf, jd__config_keys[i].ck_name, v, name, err))
            return JD_ERR_FATAL;
    }
    return jd_config_env_kafka(cf, err);
}
