/*
 * jd_redis: one pipeline over one Redis node or a Redis Cluster (contract
 * in jd_redis.h).
 *
 * Commands are formatted once (redisFormatCommandArgv) and kept until the
 * caller has read their replies. Sending is done in rounds: a round
 * routes every command still without a reply to a node (pinned master,
 * ASK target, slot owner from the map, else the first node), writes each
 * node's commands in append order and reads that node's replies in the
 * same order. A redirected or NOSCRIPT command stays unanswered and goes
 * out again in the next round, so a round never waits on a node it did not
 * write to, and the replies handed back keep the caller's order whatever
 * nodes answered them.
 *
 * The slot map is an array of 16384 node indexes (-1: unknown, routed to
 * the first node, which answers MOVED). Nodes are found or added by
 * host:port and connected lazily; a MOVED updates the one slot at once and
 * marks the map stale, so the whole map is read again (CLUSTER SLOTS)
 * before the next round, which is how clients follow a failover or a
 * resharding. An I/O error anywhere drops everything (jd_redis.h): after a
 * node restarts, the next connect reads the map afresh.
 *
 * Scripts: the source of every SCRIPT LOAD sent through rd is remembered
 * with the sha Redis answered, so an EVALSHA answered NOSCRIPT by a node
 * that never saw the script (another master, a promoted replica, a
 * restarted node) is preceded by SCRIPT LOAD on that node and sent again.
 *
 * Counters (jd_redis_count): process-wide relaxed atomics, bumped where a
 * redirection, a script reload, a map refresh or a reconnect happens; the
 * metrics read them when scraped (consumer/jd_ops.c).
 */
#include "jd_redis.h"
#include "jd_redis_auth.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#define RD_SHA_LEN     40
#define RD_MAX_SCRIPTS 16
#define RD_HOST_MAX    256

typedef struct rd_node {
    char         *rn_host;   /* host name or address; unix path if port 0 */
    int           rn_port;
    redisContext *rn_ctx;    /* NULL while not connected */
    int           rn_master; /* serves slots in the current map */
} rd_node_t;

typedef struct rd_cmd {
    char       *cm_buf;      /* the formatted command */
    size_t      cm_len;
    int         cm_slot;     /* -1: keyless */
    int         cm_pin;      /* k-th master, or -1 */
    int         cm_node;     /* ASK / NOSCRIPT target for the next round */
    int         cm_asking;   /* precede with ASKING */
    int         cm_reload;   /* precede with SCRIPT LOAD of this script */
    int         cm_target;   /* node of the current round */
    int         cm_tries;
    char       *cm_src;      /* SCRIPT LOAD source, to remember its sha */
    char        cm_sha[RD_SHA_LEN + 1]; /* EVALSHA's sha, or "" */
    redisReply *cm_reply;    /* NULL until answered */
} rd_cmd_t;

struct jd_redis {
    char           *rd_user;
    char           *rd_password;
    int             rd_timeout_ms;
    jd_redis_mode_t rd_mode;
    size_t          rd_seed_cnt;  /* nodes[0..seed_cnt) are the seeds */
    rd_node_t      *rd_nodes;
    size_t          rd_node_cnt;
    size_t          rd_node_cap;
    int16_t         rd_slots[JD_REDIS_SLOTS];
    int             rd_first;     /* node of keyless commands */
    int             rd_connected;
    int             rd_cluster;
    int             rd_stale;     /* read the slot map before sending */
    int             rd_lost;      /* a connection was lost: the next
                                     connect is a reconnect */
    rd_cmd_t       *rd_cmds;
    size_t          rd_cmd_cnt;
    size_t          rd_cmd_cap;
    size_t          rd_next;      /* next reply to hand out */
    int             rd_sent;
    char           *rd_src[RD_MAX_SCRIPTS];
    char            rd_sha[RD_MAX_SCRIPTS][RD_SHA_LEN + 1];
    size_t          rd_script_cnt;
};

static _Atomic uint64_t rd_counts[JD_REDIS_C__COUNT];

static void rd_count(jd_redis_counter_t c)
{
    atomic_fetch_add_explicit(&rd_counts[c], 1, memory_order_relaxed);
}

uint64_t jd_redis_count(jd_redis_counter_t c)
{
    return c >= 0 && c < JD_REDIS_C__COUNT
               ? atomic_load_explicit(&rd_counts[c], memory_order_relaxed) : 0;
}

/* ---- pure helpers ---------------------------------------------------------- */

uint16_t jd_redis_crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;

    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)buf[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021)
                               : (uint16_t)(crc << 1);
    }
    return crc;
}

int jd_redis_keyslot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);

    if (open) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = memchr(open + 1, '}', len - from);
        if (close && close > open + 1)
            return jd_redis_crc16(open + 1, (size_t)(close - open - 1)) &
                   (JD_REDIS_SLOTS - 1);
    }
    return jd_redis_crc16(key, len) & (JD_REDIS_SLOTS - 1);
}

static int rd_is(const char *arg, size_t len, const char *name)
{
    return strlen(name) == len && strncasecmp(arg, name, len) == 0;
}

int jd_redis_command_slot(int argc, const char *const *argv,
                          const size_t *lens)
{
    static const char *const keyless[] = {
        "SCRIPT", "SCAN", "PING", "CLUSTER", "ASKING", "AUTH", "INFO",
        "DBSIZE", "FLUSHALL", "FLUSHDB", "SELECT", "ECHO"};

    if (argc < 2)
        return -1;
    for (size_t i = 0; i < sizeof keyless / sizeof *keyless; i++)
        if (rd_is(argv[0], lens[0], keyless[i]))
            return -1;
    if (rd_is(argv[0], lens[0], "EVALSHA") || rd_is(argv[0], lens[0], "EVAL")) {
        if (argc < 4 || strtol(argv[2], NULL, 10) <= 0)
            return -1;
        return jd_redis_keyslot(argv[3], lens[3]);
    }
    return jd_redis_keyslot(argv[1], lens[1]);
}

int jd_redis_parse_redirect(const char *s, size_t len, int *slot, char *host,
                            size_t cap, int *port)
{
    char buf[RD_HOST_MAX + 64], *end, *addr, *colon;
    int kind;
    long v, p;

    if (!s || len >= sizeof buf || cap == 0)
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (strncmp(buf, "MOVED ", 6) == 0)
        kind = JD_REDIS_MOVED;
    else if (strncmp(buf, "ASK ", 4) == 0)
        kind = JD_REDIS_ASK;
    else
        return 0;
    v = strtol(buf + (kind == JD_REDIS_MOVED ? 6 : 4), &end, 10);
    if (*end != ' ' || v < 0 || v >= JD_REDIS_SLOTS)
        return 0;
    addr = end + 1;
    colon = strrchr(addr, ':'); /* the last one: IPv6 addresses hold ':' */
    if (!colon || (size_t)(colon - addr) >= cap)
        return 0;
    p = strtol(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || p <= 0 || p > 65535)
        return 0;
    *colon = '\0';
    snprintf(host, cap, "%s", addr);
    *slot = (int)v;
    *port = (int)p;
    return kind;
}

/* ---- nodes --------------------------------------------------------------------- */

/* The index of node host:port (port 0: unix socket), added when new;
 * -1 when out of memory. */
static int rd_node_get(jd_redis_t *rd, const char *host, int port)
{
    for (size_t i = 0; i < rd->rd_node_cnt; i++)
        if (rd->rd_nodes[i].rn_port == port &&
            strcmp(rd->rd_nodes[i].rn_host, host) == 0)
            return (int)i;
    if (rd->rd_node_cnt == rd->rd_node_cap) {
        size_t cap = rd->rd_node_cap ? rd->rd_node_cap * 2 : 8;
        rd_node_t *nodes = realloc(rd->rd_nodes, cap * sizeof *nodes);
        if (!nodes)
            return -1;
        rd->rd_nodes = nodes;
        rd->rd_node_cap = cap;
    }
    rd_node_t *rn = &rd->rd_nodes[rd->rd_node_cnt];
    memset(rn, 0, sizeof *rn);
    if (!(rn->rn_host = strdup(host)))
        return -1;
    rn->rn_port = port;
    return (int)rd->rd_node_cnt++;
}

static void rd_where(const rd_node_t *rn, char *buf, size_t cap)
{
    if (rn->rn_port)
        snprintf(buf, cap, "%s:%d", rn->rn_host, rn->rn_port);
    else
        snprintf(buf, cap, "%s", rn->rn_host);
}

/* Sets err for an I/O error on node i, then drops everything. */
static int rd_io_error(jd_redis_t *rd, int i, const char *what, jd_err_t *err)
{
    const rd_node_t *rn = &rd->rd_nodes[i];
    const char *why = rn->rn_ctx && rn->rn_ctx->errstr[0] ? rn->rn_ctx->errstr
                                                          : "connection lost";
    char where[RD_HOST_MAX + 16];

    rd_where(rn, where, sizeof where);
    /* a socket timeout surfaces as EAGAIN's text: say what it means */
    if (strstr(why, "temporarily unavailable"))
        jd_err_set(err, JD_ERR_RETRY, JD_E_REDIS,
                   "redis %s: %s: timed out after %d ms", where, what,
                   rd->rd_timeout_ms);
    else
        jd_err_set(err, JD_ERR_RETRY, JD_E_REDIS, "redis %s: %s: %s", where,
                   what, why);
    if (rd->rd_connected)
        rd->rd_lost = 1;
    jd_redis_disconnect(rd);
    return JD_ERR_RETRY;
}

/* Connects and authenticates node i unless connected. */
static int rd_node_open(jd_redis_t *rd, int i, jd_err_t *err)
{
    rd_node_t *rn = &rd->rd_nodes[i];
    struct timeval tv = {rd->rd_timeout_ms / 1000,
                         (rd->rd_timeout_ms % 1000) * 1000};
    int rc;

    if (rn->rn_ctx)
        return 0;
    rn->rn_ctx = rn->rn_port ? redisConnectWithTimeout(rn->rn_host, rn->rn_port, tv)
                             : redisConnectUnixWithTimeout(rn->rn_host, tv);
    if (!rn->rn_ctx)
        return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM,
                          "redis: cannot allocate a connection");
    if (rn->rn_ctx->err)
        return rd_io_error(rd, i, "connect", err);
    if (redisSetTimeout(rn->rn_ctx, tv) != REDIS_OK)
        return rd_io_error(rd, i, "set timeout", err);
    rc = jd_redis_auth(rn->rn_ctx, rd->rd_user, rd->rd_password, err);
    if (rc == JD_ERR_RETRY)
        return rd_io_error(rd, i, "AUTH", err);
    if (rc)
        jd_redis_disconnect(rd);
    return rc;
}

/* Fills the slot map from a CLUSTER SLOTS reply given by node `from`
 * (entries [start, end, [host, port, ...], replicas...]). Returns 0, 1
 * when the reply is not a slot map, -1 when out of memory. */
static int rd_map_parse(jd_redis_t *rd, const redisReply *r, int from)
{
    if (r->type != REDIS_REPLY_ARRAY)
        return 1;
    for (size_t i = 0; i < JD_REDIS_SLOTS; i++)
        rd->rd_slots[i] = -1;
    for (size_t i = 0; i < rd->rd_node_cnt; i++)
        rd->rd_nodes[i].rn_master = 0;
    for (size_t e = 0; e < r->elements; e++) {
        const redisReply *en = r->element[e], *m;
        if (en->type != REDIS_REPLY_ARRAY || en->elements < 3 ||
            (m = en->element[2])->type != REDIS_REPLY_ARRAY ||
            m->elements < 2 || m->element[0]->type != REDIS_REPLY_STRING ||
            m->element[1]->type != REDIS_REPLY_INTEGER)
            continue;
        const char *host = m->element[0]->len ? m->element[0]->str
                                              : rd->rd_nodes[from].rn_host;
        int node = rd_node_get(rd, host, (int)m->element[1]->integer);
        if (node < 0)
            return -1;
        rd->rd_nodes[node].rn_master = 1;
        for (long long s = en->element[0]->integer;
             s <= en->element[1]->integer && s >= 0 && s < JD_REDIS_SLOTS; s++)
            rd->rd_slots[s] = (int16_t)node;
    }
    return 0;
}

/* Asks node i for the slot map. Returns 0 (map read), 1 (the node has no
 * cluster support), or a negative jd_err class. */
static int rd_map_read(jd_redis_t *rd, int i, jd_err_t *err)
{
    redisReply *r;
    int rc;

    if ((rc = rd_node_open(rd, i, err)) != 0)
        return rc;
    if (!(r = redisCommand(rd->rd_nodes[i].rn_ctx, "CLUSTER SLOTS")))
        return rd_io_error(rd, i, "CLUSTER SLOTS", err);
    rc = rd_map_parse(rd, r, i);
    freeReplyObject(r);
    if (rc < 0)
        return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM, "out of memory");
    if (rc == 0)
        rd->rd_stale = 0;
    return rc;
}

/* Reads the map again from any reachable node (the first node first). */
static int rd_map_refresh(jd_redis_t *rd, jd_err_t *err)
{
    int rc = rd_map_read(rd, rd->rd_first, err);

    for (size_t i = 0; rc != 0 && rd->rd_connected && i < rd->rd_node_cnt; i++)
        if ((int)i != rd->rd_first)
            rc = rd_map_read(rd, (int)i, err);
    if (rc > 0)
        return jd_err_set(err, JD_ERR_RETRY, JD_E_REDIS,
                          "redis: no node answers CLUSTER SLOTS");
    if (rc == 0)
        rd_count(JD_REDIS_C_MAP_REFRESH);
    return rc ? JD_ERR_RETRY : 0;
}

/* ---- life cycle ------------------------------------------------------------------ */

/* Adds the seeds of "host:port,host:port". */
static int rd_add_seeds(jd_redis_t *rd, const char *list, jd_err_t *err)
{
    char item[RD_HOST_MAX + 8];

    while (list && *list) {
        size_t n = strcspn(list, ", ");
        char *colon, *end;
        long port;
        if (n && n < sizeof item) {
            memcpy(item, list, n);
            item[n] = '\0';
            colon = strrchr(item, ':');
            port = colon ? strtol(colon + 1, &end, 10) : 0;
            if (!colon || colon == item || *end || port <= 0 || port > 65535)
                return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                                  "redis.nodes: '%s' is not host:port", item);
            *colon = '\0';
            if (rd_node_get(rd, item, (int)port) < 0)
                return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        } else if (n) {
            return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                              "redis.nodes: an entry is too long");
        }
        list += n;
        list += strspn(list, ", ");
    }
    return 0;
}

jd_redis_t *jd_redis_new(const jd_redis_conf_t *conf, jd_err_t *err)
{
    jd_redis_t *rd = calloc(1, sizeof *rd);

    if (!rd) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        return NULL;
    }
    rd->rd_timeout_ms = conf->rc_timeout_ms > 0 ? conf->rc_timeout_ms : 2000;
    rd->rd_mode = conf->rc_mode;
    rd->rd_user = conf->rc_user && *conf->rc_user ? strdup(conf->rc_user) : NULL;
    rd->rd_password = conf->rc_password && *conf->rc_password
                          ? strdup(conf->rc_password) : NULL;
    if ((conf->rc_user && *conf->rc_user && !rd->rd_user) ||
        (conf->rc_password && *conf->rc_password && !rd->rd_password) ||
        rd_node_get(rd, conf->rc_unix_path ? conf->rc_unix_path : conf->rc_host,
                    conf->rc_unix_path ? 0 : conf->rc_port) < 0) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        jd_redis_destroy(rd);
        return NULL;
    }
    if (rd_add_seeds(rd, conf->rc_seeds, err) != 0) {
        jd_redis_destroy(rd);
        return NULL;
    }
    rd->rd_seed_cnt = rd->rd_node_cnt;
    return rd;
}

static void rd_cmds_clear(jd_redis_t *rd)
{
    for (size_t i = 0; i < rd->rd_cmd_cnt; i++) {
        redisFreeCommand(rd->rd_cmds[i].cm_buf);
        free(rd->rd_cmds[i].cm_src);
        if (rd->rd_cmds[i].cm_reply)
            freeReplyObject(rd->rd_cmds[i].cm_reply);
    }
    rd->rd_cmd_cnt = 0;
    rd->rd_next = 0;
    rd->rd_sent = 0;
}

void jd_redis_disconnect(jd_redis_t *rd)
{
    for (size_t i = 0; i < rd->rd_node_cnt; i++) {
        redisFree(rd->rd_nodes[i].rn_ctx);
        rd->rd_nodes[i].rn_ctx = NULL;
    }
    rd_cmds_clear(rd);
    rd->rd_connected = 0;
}

void jd_redis_destroy(jd_redis_t *rd)
{
    if (!rd)
        return;
    jd_redis_disconnect(rd);
    for (size_t i = 0; i < rd->rd_node_cnt; i++)
        free(rd->rd_nodes[i].rn_host);
    for (size_t i = 0; i < rd->rd_script_cnt; i++)
        free(rd->rd_src[i]);
    free(rd->rd_nodes);
    free(rd->rd_cmds);
    free(rd->rd_user);
    jd_redis_secret_free(rd->rd_password);
    free(rd);
}

/* Connected to seed i: decides the mode and reads the map. */
static int rd_connect_seed(jd_redis_t *rd, int i, jd_err_t *err)
{
    int rc = 0;

    rd->rd_first = i;
    rd->rd_connected = 1;
    rd->rd_cluster = 0;
    if (rd->rd_mode != JD_REDIS_SINGLE && (rc = rd_map_read(rd, i, err)) < 0)
        return rc;
    if (rc > 0 && rd->rd_mode == JD_REDIS_CLUSTER) {
        jd_redis_disconnect(rd);
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "redis.cluster is on but the server has cluster "
                          "support disabled");
    }
    rd->rd_cluster = rd->rd_mode != JD_REDIS_SINGLE && rc == 0;
    return 0;
}

int jd_redis_connect(jd_redis_t *rd, jd_err_t *err)
{
    int rc = JD_ERR_RETRY;

    jd_redis_disconnect(rd);
    /* the seeds first, then every node a slot map ever named */
    for (size_t i = 0; i < rd->rd_node_cnt; i++) {
        if ((rc = rd_node_open(rd, (int)i, err)) == JD_ERR_FATAL)
            return rc;
        if (rc == 0 && (rc = rd_connect_seed(rd, (int)i, err)) != JD_ERR_RETRY) {
            if (rc == 0 && rd->rd_lost) {
                rd->rd_lost = 0;
                rd_count(JD_REDIS_C_RECONNECT);
            }
            return rc;
        }
    }
    return rc;
}

int jd_redis_connected(const jd_redis_t *rd)
{
    return rd->rd_connected;
}

int jd_redis_is_cluster(const jd_redis_t *rd)
{
    return rd->rd_cluster;
}

int jd_redis_master_count(const jd_redis_t *rd)
{
    int n = 0;

    if (!rd->rd_cluster)
        return 1;
    for (size_t i = 0; i < rd->rd_node_cnt; i++)
        n += rd->rd_nodes[i].rn_master;
    return n;
}

/* The node of the k-th master (the first node in single mode). */
static int rd_master(const jd_redis_t *rd, int k)
{
    if (!rd->rd_cluster)
        return rd->rd_first;
    for (size_t i = 0; i < rd->rd_node_cnt; i++)
        if (rd->rd_nodes[i].rn_master && k-- == 0)
            return (int)i;
    return rd->rd_first;
}

/* ---- the pipeline ------------------------------------------------------------------ */

static int rd_append(jd_redis_t *rd, int pin, int argc, const char **argv,
                     const size_t *lens)
{
    rd_cmd_t *cm;
    long long len;

    if (rd->rd_sent) /* replies of the last send not all read: a misuse */
        return -1;
    if (rd->rd_cmd_cnt == rd->rd_cmd_cap) {
        size_t cap = rd->rd_cmd_cap ? rd->rd_cmd_cap * 2 : 64;
        rd_cmd_t *cmds = realloc(rd->rd_cmds, cap * sizeof *cmds);
        if (!cmds)
            return -1;
        rd->rd_cmds = cmds;
        rd->rd_cmd_cap = cap;
    }
    cm = &rd->rd_cmds[rd->rd_cmd_cnt];
    memset(cm, 0, sizeof *cm);
    if ((len = redisFormatCommandArgv(&cm->cm_buf, argc, argv, lens)) < 0)
        return -1;
    cm->cm_len = (size_t)len;
    cm->cm_slot = jd_redis_command_slot(argc, argv, lens);
    cm->cm_pin = pin;
    cm->cm_node = -1;
    cm->cm_reload = -1;
    if (argc == 3 && rd_is(argv[0], lens[0], "SCRIPT") &&
        rd_is(argv[1], lens[1], "LOAD") && !(cm->cm_src = strndup(argv[2], lens[2]))) {
        redisFreeCommand(cm->cm_buf);
        return -1;
    }
    if (argc >= 2 && rd_is(argv[0], lens[0], "EVALSHA") && lens[1] == RD_SHA_LEN)
        memcpy(cm->cm_sha, argv[1], RD_SHA_LEN + 1);
    rd->rd_cmd_cnt++;
    return 0;
}

int jd_redis_append(jd_redis_t *rd, int argc, const char **argv,
                    const size_t *lens)
{
    return rd_append(rd, -1, argc, argv, lens);
}

int jd_redis_append_to(jd_redis_t *rd, int k, int argc, const char **argv,
                       const size_t *lens)
{
    return rd_append(rd, k, argc, argv, lens);
}

static int rd_script_find(const jd_redis_t *rd, const char *sha)
{
    for (size_t i = 0; *sha && i < rd->rd_script_cnt; i++)
        if (strcmp(rd->rd_sha[i], sha) == 0)
            return (int)i;
    return -1;
}

/* A SCRIPT LOAD answered: remember its sha and source. */
static void rd_script_note(jd_redis_t *rd, rd_cmd_t *cm, const redisReply *r)
{
    if (r->type != REDIS_REPLY_STRING || r->len != RD_SHA_LEN ||
        rd_script_find(rd, r->str) >= 0 || rd->rd_script_cnt == RD_MAX_SCRIPTS)
        return;
    memcpy(rd->rd_sha[rd->rd_script_cnt], r->str, RD_SHA_LEN + 1);
    rd->rd_src[rd->rd_script_cnt++] = cm->cm_src;
    cm->cm_src = NULL;
}

/* The node command cm goes to in this round. */
static int rd_route(const jd_redis_t *rd, const rd_cmd_t *cm)
{
    if (cm->cm_node >= 0)
        return cm->cm_node;
    if (cm->cm_pin >= 0)
        return rd_master(rd, cm->cm_pin);
    if (rd->rd_cluster && cm->cm_slot >= 0 && rd->rd_slots[cm->cm_slot] >= 0)
        return rd->rd_slots[cm->cm_slot];
    return rd->rd_first;
}

/* Decides what a reply means for its command: 1 = send it again (the
 * reply was consumed), 0 = its answer (kept). Returns -1 on OOM. */
static int rd_judge(jd_redis_t *rd, rd_cmd_t *cm, redisReply *r)
{
    char host[RD_HOST_MAX];
    int slot, port, kind = 0, script = -1, node;

    if (r->type != REDIS_REPLY_ERROR || cm->cm_tries >= JD_REDIS_MAX_REDIRECTS)
        return 0;
    if (rd->rd_cluster)
        kind = jd_redis_parse_redirect(r->str, r->len, &slot, host, sizeof host,
                                       &port);
    if (!kind && r->len >= 8 && memcmp(r->str, "NOSCRIPT", 8) == 0)
        script = rd_script_find(rd, cm->cm_sha);
    if (!kind && script < 0)
        return 0;
    node = kind ? rd_node_get(rd, host[0] ? host : rd->rd_nodes[cm->cm_target].rn_host,
                              port) : cm->cm_target;
    if (node < 0)
        return -1;
    if (kind == JD_REDIS_MOVED) {
        rd->rd_slots[slot] = (int16_t)node;
        rd->rd_stale = 1;
    }
    rd_count(kind == JD_REDIS_MOVED ? JD_REDIS_C_MOVED
             : kind == JD_REDIS_ASK ? JD_REDIS_C_ASK : JD_REDIS_C_NOSCRIPT);
    cm->cm_node = kind == JD_REDIS_MOVED ? -1 : node;
    cm->cm_asking = kind == JD_REDIS_ASK;
    cm->cm_reload = script;
    cm->cm_tries++;
    freeReplyObject(r);
    return 1;
}

/* Writes node i's share of the round: for each command routed to it,
 * ASKING and SCRIPT LOAD when needed, then the command. */
static int rd_write_node(jd_redis_t *rd, int i, jd_err_t *err)
{
    redisContext *c;
    int rc;

    if ((rc = rd_node_open(rd, i, err)) != 0)
        return rc;
    c = rd->rd_nodes[i].rn_ctx;
    for (size_t k = 0; k < rd->rd_cmd_cnt; k++) {
        rd_cmd_t *cm = &rd->rd_cmds[k];
        if (cm->cm_reply || cm->cm_target != i)
            continue;
        if ((cm->cm_asking && redisAppendCommand(c, "ASKING") != REDIS_OK) ||
            (cm->cm_reload >= 0 &&
             redisAppendCommand(c, "SCRIPT LOAD %s", rd->rd_src[cm->cm_reload]) != REDIS_OK) ||
            redisAppendFormattedCommand(c, cm->cm_buf, cm->cm_len) != REDIS_OK)
            return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM, "out of memory");
    }
    return 0;
}

/* Reads one reply from node i; NULL after an I/O error (err set). */
static redisReply *rd_get(jd_redis_t *rd, int i, jd_err_t *err)
{
    void *r = NULL;

    if (redisGetReply(rd->rd_nodes[i].rn_ctx, &r) != REDIS_OK || !r) {
        rd_io_error(rd, i, "read", err);
        return NULL;
    }
    return r;
}

/* Reads node i's replies of the round; *again is set when a command must
 * go out once more. */
static int rd_read_node(jd_redis_t *rd, int i, int *again, jd_err_t *err)
{
    for (size_t k = 0; k < rd->rd_cmd_cnt; k++) {
        rd_cmd_t *cm = &rd->rd_cmds[k];
        redisReply *r;
        int pre = (cm->cm_asking != 0) + (cm->cm_reload >= 0), verdict;
        if (cm->cm_reply || cm->cm_target != i)
            continue;
        for (; pre > 0; pre--) { /* ASKING, SCRIPT LOAD: their errors show
                                    in the command's own reply */
            if (!(r = rd_get(rd, i, err)))
                return JD_ERR_RETRY;
            freeReplyObject(r);
        }
        if (!(r = rd_get(rd, i, err)))
            return JD_ERR_RETRY;
        if ((verdict = rd_judge(rd, cm, r)) < 0) {
            freeReplyObject(r);
            return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM, "out of memory");
        }
        if (verdict) {
            *again = 1;
            continue;
        }
        cm->cm_reply = r;
        if (cm->cm_src)
            rd_script_note(rd, cm, r);
    }
    return 0;
}

/* One round over every node that has unanswered commands. */
static int rd_round(jd_redis_t *rd, int *again, jd_err_t *err)
{
    unsigned char *used;
    int rc = 0;

    *again = 0;
    if (rd->rd_cluster && rd->rd_stale && (rc = rd_map_refresh(rd, err)) != 0)
        return rc;
    if (!(used = calloc(rd->rd_node_cnt + 1, 1)))
        return jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM, "out of memory");
    for (size_t k = 0; k < rd->rd_cmd_cnt; k++) {
        rd_cmd_t *cm = &rd->rd_cmds[k];
        if (!cm->cm_reply)
            used[cm->cm_target = rd_route(rd, cm)] = 1;
    }
    for (size_t i = 0; i < rd->rd_node_cnt && rc == 0; i++)
        if (used[i])
            rc = rd_write_node(rd, (int)i, err);
    for (size_t i = 0; i < rd->rd_node_cnt && rc == 0; i++)
        if (used[i])
            rc = rd_read_node(rd, (int)i, again, err);
    free(used);
    return rc;
}

/* Sends everything appended, redirecting until every command has a reply. */
static int rd_flush(jd_redis_t *rd, jd_err_t *err)
{
    int again = 1, rc = 0;

    for (int round = 0; again && rc == 0; round++)
        rc = rd_round(rd, &again, err);
    if (rc && rd->rd_connected)
        jd_redis_disconnect(rd);
    return rc;
}

int jd_redis_read(jd_redis_t *rd, redisReply **reply, jd_err_t *err)
{
    int rc;

    *reply = NULL;
    if (!rd->rd_connected)
        return jd_err_set(err, JD_ERR_RETRY, JD_E_REDIS, "redis: not connected");
    if (rd->rd_next >= rd->rd_cmd_cnt)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_INTERNAL,
                          "redis: read with no command pending");
    if (!rd->rd_sent) {
        if ((rc = rd_flush(rd, err)) != 0)
            return rc;
        rd->rd_sent = 1;
    }
    *reply = rd->rd_cmds[rd->rd_next].cm_reply;
    rd->rd_cmds[rd->rd_next++].cm_reply = NULL;
    if (rd->rd_next == rd->rd_cmd_cnt)
        rd_cmds_clear(rd);
    return 0;
}
