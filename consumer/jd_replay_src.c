/*
 * jd_replay_src: where `journeyd replay` reads its events (contract in
 * jd_replay.h).
 *
 * File: an Avro object container file; each record is re-encoded to Avro
 * binary behind a Confluent frame with id 1, and the decoder knows the
 * file's writer schema under that id (so any compatible writer schema is
 * resolved to product_event.avsc, as for a registered schema).
 *
 * Topic: a consumer outside any consumer group (partitions assigned by
 * hand, nothing committed) reads every partition from its first offset up
 * to its end when the replay starts, keeping the messages whose timestamp
 * is in [--from, --to) (the whole range is read: message timestamps need
 * not be ordered). Messages are decoded exactly as
 * `journeyd run` decodes them (jd_decoder_from_config: wire format,
 * limits, mapping, product schema id, schemas.ids.*; the schema registry
 * when configured, its client owned by the source). Main thread.
 */
#include "jd_replay.h"

#include <avro.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jd_decoder_conf.h"
#include "jd_kconf.h"
#include "jd_registry.h"

#define JD_SRC_TIMEOUT_MS 10000

struct jd_replay_src {
    /* file */
    avro_file_reader_t  rs_file;
    avro_schema_t       rs_schema;
    avro_value_iface_t *rs_class;
    avro_value_t        rs_value;
    char               *rs_buf;
    size_t              rs_cap;
    /* topic */
    rd_kafka_t         *rs_rk;
    rd_kafka_message_t *rs_msg;
    int64_t            *rs_end;    /* per partition: stop before this offset */
    int                 rs_nparts, rs_left;
    int64_t             rs_from_ms, rs_to_ms; /* message time range, 0: open */
    jd_registry_t      *rs_registry; /* NULL without schemas.registry.url */
};

void jd_replay_src_close(jd_replay_src_t *src)
{
    if (!src)
        return;
    if (src->rs_class) {
        avro_value_decref(&src->rs_value);
        avro_value_iface_decref(src->rs_class);
    }
    if (src->rs_file)
        avro_file_reader_close(src->rs_file);
    if (src->rs_schema)
        avro_schema_decref(src->rs_schema);
    free(src->rs_buf);
    if (src->rs_msg)
        rd_kafka_message_destroy(src->rs_msg);
    if (src->rs_rk) {
        rd_kafka_consumer_close(src->rs_rk);
        rd_kafka_destroy(src->rs_rk);
    }
    free(src->rs_end);
    jd_registry_destroy(src->rs_registry);
    free(src);
}

/* ---- file -------------------------------------------------------------------- */

static int jd_src_file_open(jd_replay_src_t *src, const char *path, jd_decoder_t **dec,
                            jd_err_t *err)
{
    char json[65536];
    jd_limits_t lim;
    avro_writer_t w;
    int rc;

    if (avro_file_reader(path, &src->rs_file)) {
        src->rs_file = NULL;
        return jd_err_set(err, JD_ERR_FATAL, JD_E_IO, "%s: not an Avro object container "
                          "file: %s", path, avro_strerror());
    }
    src->rs_schema = avro_file_reader_get_writer_schema(src->rs_file);
    w = avro_writer_memory(json, sizeof json - 1);
    rc = avro_schema_to_json(src->rs_schema, w);
    json[rc ? 0 : avro_writer_tell(w)] = '\0';
    avro_writer_free(w);
    if (rc || !(src->rs_class = avro_generic_class_from_schema(src->rs_schema)) ||
        avro_generic_value_new(src->rs_class, &src->rs_value)) {
        if (src->rs_class) {
            avro_value_iface_decref(src->rs_class);
            src->rs_class = NULL;
        }
        return jd_err_set(err, JD_ERR_FATAL, JD_E_SCHEMA, "%s: cannot use the file's "
                          "schema: %s", path, avro_strerror());
    }
    jd_limits_default(&lim);
    if (!(*dec = jd_decoder_new(JD_WIRE_CONFLUENT, &lim, err)))
        return JD_ERR_FATAL;
    return jd_decoder_add_schema(*dec, 1, json, err) ? JD_ERR_FATAL : 0;
}

static long jd_src_file_next(jd_replay_src_t *src, const void **buf, jd_err_t *err)
{
    size_t size;
    avro_writer_t w;
    int rc;

    if (avro_file_reader_read_value(src->rs_file, &src->rs_value))
        return 0; /* the end (avro-c does not tell it from a read error) */
    if (avro_value_sizeof(&src->rs_value, &size)) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_MALFORMED, "cannot size a record: %s",
                   avro_strerror());
        return -1;
    }
    if (size + 5 > src->rs_cap) {
        char *b = realloc(src->rs_buf, size + 5);
        if (!b) {
            jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
            return -1;
        }
        src->rs_buf = b;
        src->rs_cap = size + 5;
    }
    memcpy(src->rs_buf, "\0\0\0\0\1", 5);
    w = avro_writer_memory(src->rs_buf + 5, (int64_t)size);
    rc = avro_value_write(w, &src->rs_value);
    avro_writer_free(w);
    if (rc) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_MALFORMED, "cannot re-encode a record: %s",
                   avro_strerror());
        return -1;
    }
    *buf = src->rs_buf;
    return (long)(size + 5);
}

/* ---- topic --------------------------------------------------------------------- */

/* The decoder `journeyd run` uses, with the schema registry (when
 * configured) for the ids it does not know; the source owns the client. */
static int jd_src_run_decoder(jd_replay_src_t *src, const jd_config_t *cf, jd_decoder_t **dec,
                              jd_err_t *err)
{
    if (!(*dec = jd_decoder_from_config(cf, err)))
        return JD_ERR_FATAL;
    if (cf->cf_registry_url[0]) {
        if (!(src->rs_registry = jd_registry_new(cf, err)))
            return JD_ERR_FATAL;
        jd_decoder_set_fetch(*dec, jd_registry_fetch_cb, src->rs_registry);
        /* a replay runs against a reachable registry: an outage is an error */
        if (jd_decoder_input_subjects(*dec, src->rs_registry, cf, err))
            return JD_ERR_FATAL;
    }
    return 0;
}

/* Assigns every partition of the topic from its start to its end. */
static int jd_src_assign(jd_replay_src_t *src, const jd_replay_opts_t *ro, int nparts,
                         jd_err_t *err)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    int rc = 0;

    if (!(src->rs_end = calloc((size_t)nparts, sizeof *src->rs_end)))
        rc = jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    src->rs_nparts = nparts;
    for (int p = 0; !rc && p < nparts; p++) {
        int64_t lo, hi, start;
        if (rd_kafka_query_watermark_offsets(src->rs_rk, ro->rp_topic, p, &lo, &hi,
                                             JD_SRC_TIMEOUT_MS)) {
            rc = jd_err_set(err, JD_ERR_FATAL, JD_E_KAFKA, "topic %s[%d]: cannot read its "
                            "offsets", ro->rp_topic, p);
            break;
        }
        start = lo;
        src->rs_end[p] = hi;
        if (start >= src->rs_end[p])
            continue;
        src->rs_left++;
        rd_kafka_topic_partition_list_add(l, ro->rp_topic, p)->offset = start;
    }
    if (!rc && l->cnt && rd_kafka_assign(src->rs_rk, l))
        rc = jd_err_set(err, JD_ERR_FATAL, JD_E_KAFKA, "cannot assign %s", ro->rp_topic);
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

static int jd_src_topic_open(jd_replay_src_t *src, const jd_config_t *cf,
                             const jd_replay_opts_t *ro, jd_decoder_t **dec, jd_err_t *err)
{
    rd_kafka_conf_t *conf = jd_kconf_new(cf, JD_KCONF_CONSUMER, NULL, err);
    const struct rd_kafka_metadata *md = NULL;
    char errstr[512], group[64];
    rd_kafka_topic_t *rkt;
    int nparts = -1;

    if (!conf)
        return JD_ERR_FATAL;
    src->rs_from_ms = ro->rp_from_ms;
    src->rs_to_ms = ro->rp_to_ms;
    snprintf(group, sizeof group, "journeyd-replay-%ld", (long)getpid());
    if (jd_kconf_set(conf, "group.id", group, err) ||
        jd_kconf_set(conf, "enable.auto.commit", "false", err)) {
        rd_kafka_conf_destroy(conf);
        return JD_ERR_FATAL;
    }
    if (!(src->rs_rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr))) {
        rd_kafka_conf_destroy(conf);
        return jd_err_set(err, JD_ERR_FATAL, JD_E_KAFKA, "consumer: %s", errstr);
    }
    rkt = rd_kafka_topic_new(src->rs_rk, ro->rp_topic, NULL);
    if (rkt && !rd_kafka_metadata(src->rs_rk, 0, rkt, &md, JD_SRC_TIMEOUT_MS) &&
        md->topic_cnt == 1 && !md->topics[0].err)
        nparts = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (nparts < 0)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_KAFKA, "topic %s: no such topic, or the "
                          "brokers do not answer", ro->rp_topic);
    return jd_src_run_decoder(src, cf, dec, err) ? JD_ERR_FATAL : jd_src_assign(src, ro, nparts, err);
}

static long jd_src_topic_next(jd_replay_src_t *src, const void **buf, jd_err_t *err)
{
    if (src->rs_msg) {
        rd_kafka_message_destroy(src->rs_msg);
        src->rs_msg = NULL;
    }
    while (src->rs_left > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(src->rs_rk, JD_SRC_TIMEOUT_MS);
        if (!m) {
            jd_err_set(err, JD_ERR_FATAL, JD_E_KAFKA, "no message for %d s before the "
                       "end of the range", JD_SRC_TIMEOUT_MS / 1000);
            return -1;
        }
        int p = m->partition;
        if (m->err || p < 0 || p >= src->rs_nparts || m->offset >= src->rs_end[p]) {
            if (!m->err && p >= 0 && p < src->rs_nparts && src->rs_end[p] >= 0) {
                src->rs_end[p] = -1; /* past the end: this partition is done */
                src->rs_left--;
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->offset + 1 >= src->rs_end[p]) {
            src->rs_end[p] = -1; /* its last message */
            src->rs_left--;
        }
        rd_kafka_timestamp_type_t tst;
        int64_t ts = rd_kafka_message_timestamp(m, &tst);
        if (!m->len || (src->rs_from_ms && ts < src->rs_from_ms) ||
            (src->rs_to_ms && ts >= src->rs_to_ms)) {
            /* outside the time range, or empty (run dead-letters those) */
            rd_kafka_message_destroy(m);
            continue;
        }
        src->rs_msg = m;
        *buf = m->payload;
        return (long)m->len;
    }
    return 0;
}

/* ---- dispatch ------------------------------------------------------------------- */

jd_replay_src_t *jd_replay_src_open(const jd_config_t *cf, const jd_replay_opts_t *ro,
                                    jd_decoder_t **dec, jd_err_t *err)
{
    jd_replay_src_t *src = calloc(1, sizeof *src);
    int rc;

    *dec = NULL;
    if (!src) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        return NULL;
    }
    rc = ro->rp_topic ? jd_src_topic_open(src, cf, ro, dec, err)
                      : jd_src_file_open(src, ro->rp_file, dec, err);
    if (rc) {
        jd_replay_src_close(src);
        return NULL;
    }
    return src;
}

long jd_replay_src_next(jd_replay_src_t *src, const void **buf, jd_err_t *err)
{
    return src->rs_rk ? jd_src_topic_next(src, buf, err) : jd_src_file_next(src, buf, err);
}
