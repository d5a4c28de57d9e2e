/*
 * Trigger encoding (the outbound contract) and interoperability with an
 * independent Avro implementation: python3-avro decodes the C encoder's
 * triggers with schemas/trigger_event.avsc, and encodes product events
 * that the C decoder must read. /usr/bin/python3 is Debian's, with
 * python3-avro; -E -s keep PYTHON* variables and user site-packages (e.g.
 * a pyenv) out of it. Schema paths come from $JD_SOURCE_DIR (set by ctest)
 * or the JD_SOURCE_DIR compile definition.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jd_codec.h"

#ifndef JD_SOURCE_DIR
#define JD_SOURCE_DIR "."
#endif

#define PYTHON "/usr/bin/python3 -E -s"

static jd_encoder_t *enc;
static jd_decoder_t *dec;
static jd_arena_t ar;
static jd_err_t err;
static jd_buf_t out;

static void setup(void)
{
    enc = jd_encoder_new(&err);
    cr_assert_not_null(enc, "%s", err.err_msg);
    dec = jd_decoder_new(JD_WIRE_AUTO, NULL, &err);
    cr_assert_not_null(dec, "%s", err.err_msg);
    jd_arena_init(&ar, 0);
}

static void teardown(void)
{
    jd_encoder_destroy(enc);
    jd_decoder_destroy(dec);
    jd_arena_destroy(&ar);
    jd_buf_free(&out);
}

TestSuite(trigger, .init = setup, .fini = teardown);

static const char *source_dir(void)
{
    const char *d = getenv("JD_SOURCE_DIR");
    return d && *d ? d : JD_SOURCE_DIR;
}

static jd_trigger_t sample_trigger(void)
{
    jd_trigger_t tr;
    memset(&tr, 0, sizeof tr);
    jd_trigger_make_id(tr.tr_id, "acct-42", "risk.admins_silent", 3);
    strcpy(tr.tr_account, "acct-42");
    tr.tr_kind = JD_KIND_RISK;
    strcpy(tr.tr_rule_id, "risk.admins_silent");
    strcpy(tr.tr_rule_version, "2024-06-01.1");
    tr.tr_severity = JD_SEV_CRITICAL;
    strcpy(tr.tr_play, "exec_sponsor_outreach");
    strcpy(tr.tr_segment, "enterprise");
    tr.tr_has_segment = 1;
    tr.tr_fired_at = INT64_C(1717171717171);
    tr.tr_evidence_cnt = 3;
    strcpy(tr.tr_evidence[0].evd_name, "admin_logins_14d");
    tr.tr_evidence[0].evd_value = 0;
    strcpy(tr.tr_evidence[1].evd_name, "days_to_renewal");
    tr.tr_evidence[1].evd_value = 45;
    strcpy(tr.tr_evidence[2].evd_name, "nps_last");
    tr.tr_evidence[2].evd_value = -1.5;
    strcpy(tr.tr_reason, "no admin login for 14 days, renewal in 45 days — café");
    strcpy(tr.tr_source_topic, "product-events");
    tr.tr_source_partition = 7;
    tr.tr_source_offset = INT64_C(1234567890123);
    tr.tr_status = JD_STATUS_RESOLVED;
    tr.tr_priority = -12;
    strcpy(tr.tr_owner, "csm");
    strcpy(tr.tr_channel, "crm_task");
    strcpy(tr.tr_level, "needs_attention");
    tr.tr_shadow = 1;
    return tr;
}

static void assert_trigger_eq(const jd_trigger_t *a, const jd_trigger_t *b)
{
    cr_assert_str_eq(a->tr_id, b->tr_id);
    cr_assert_str_eq(a->tr_account, b->tr_account);
    cr_assert_eq(a->tr_kind, b->tr_kind);
    cr_assert_str_eq(a->tr_rule_id, b->tr_rule_id);
    cr_assert_str_eq(a->tr_rule_version, b->tr_rule_version);
    cr_assert_eq(a->tr_severity, b->tr_severity);
    cr_assert_str_eq(a->tr_play, b->tr_play);
    cr_assert_eq(a->tr_has_segment, b->tr_has_segment);
    if (b->tr_has_segment)
        cr_assert_str_eq(a->tr_segment, b->tr_segment);
    cr_assert_eq(a->tr_fired_at, b->tr_fired_at);
    cr_assert_eq(a->tr_evidence_cnt, b->tr_evidence_cnt);
    for (size_t i = 0; i < b->tr_evidence_cnt; i++) {
        cr_assert_str_eq(a->tr_evidence[i].evd_name, b->tr_evidence[i].evd_name);
        cr_assert_eq(a->tr_evidence[i].evd_value, b->tr_evidence[i].evd_value);
    }
    cr_assert_str_eq(a->tr_reason, b->tr_reason);
    cr_assert_str_eq(a->tr_source_topic, b->tr_source_topic);
    cr_assert_eq(a->tr_source_partition, b->tr_source_partition);
    cr_assert_eq(a->tr_source_offset, b->tr_source_offset);
    cr_assert_eq(a->tr_status, b->tr_status);
    cr_assert_eq(a->tr_priority, b->tr_priority);
    cr_assert_str_eq(a->tr_owner, b->tr_owner);
    cr_assert_str_eq(a->tr_channel, b->tr_channel);
    cr_assert_str_eq(a->tr_level, b->tr_level);
    cr_assert_eq(a->tr_shadow, b->tr_shadow);
}

Test(trigger, roundtrip_plain_and_framed)
{
    jd_trigger_t want = sample_trigger(), got;
    cr_assert_eq(jd_encoder_trigger(enc, &want, -1, &out, &err), 0, "%s", err.err_msg);
    cr_assert_eq(out.b_data[0], 64, "trigger_id length 32, zig-zag");
    cr_assert_eq(jd_encoder_trigger_decode(enc, out.b_data, out.b_len, &got, &err), 0,
                 "%s", err.err_msg);
    assert_trigger_eq(&got, &want);

    cr_assert_eq(jd_encoder_trigger(enc, &want, 0x7fffffff, &out, &err), 0);
    static const unsigned char hdr[5] = {0x00, 0x7f, 0xff, 0xff, 0xff};
    cr_assert_eq(memcmp(out.b_data, hdr, 5), 0);
    memset(&got, 0x5a, sizeof got);
    cr_assert_eq(jd_encoder_trigger_decode(enc, out.b_data, out.b_len, &got, &err), 0,
                 "%s", err.err_msg);
    assert_trigger_eq(&got, &want);
}

Test(trigger, roundtrip_minimal)
{
    jd_trigger_t want, got;
    memset(&want, 0, sizeof want);
    want.tr_kind = JD_KIND_RENEWAL_READINESS;
    want.tr_severity = JD_SEV_LOW;
    want.tr_source_partition = -1;
    want.tr_source_offset = -1;
    strcpy(want.tr_id, "x");
    cr_assert_eq(jd_encoder_trigger(enc, &want, -1, &out, &err), 0, "%s", err.err_msg);
    cr_assert_eq(jd_encoder_trigger_decode(enc, out.b_data, out.b_len, &got, &err), 0,
                 "%s", err.err_msg);
    assert_trigger_eq(&got, &want);
    cr_assert_eq(got.tr_has_segment, 0);
    cr_assert_eq(got.tr_evidence_cnt, 0);
}

Test(trigger, encode_rejects_out_of_range_values)
{
    jd_trigger_t tr = sample_trigger();
    tr.tr_kind = JD_KIND__COUNT;
    cr_assert_eq(jd_encoder_trigger(enc, &tr, -1, &out, &err), JD_ERR_FATAL);
    cr_assert_eq(err.err_code, JD_E_INTERNAL);
    tr = sample_trigger();
    tr.tr_severity = (jd_severity_t)-1;
    cr_assert_eq(jd_encoder_trigger(enc, &tr, -1, &out, &err), JD_ERR_FATAL);
    tr = sample_trigger();
    tr.tr_evidence_cnt = JD_EVIDENCE_MAX + 1;
    cr_assert_eq(jd_encoder_trigger(enc, &tr, -1, &out, &err), JD_ERR_FATAL);
    cr_assert_eq(out.b_len, 0);
}

Test(trigger, decode_errors)
{
    jd_trigger_t got;
    cr_assert_eq(jd_encoder_trigger_decode(enc, "", 0, &got, &err), JD_ERR_SKIP);
    cr_assert_eq(err.err_code, JD_E_EMPTY);
    cr_assert_eq(jd_encoder_trigger_decode(enc, "\0\0\0", 3, &got, &err), JD_ERR_SKIP);
    cr_assert_eq(err.err_code, JD_E_BAD_MAGIC);
    jd_trigger_t tr = sample_trigger();
    cr_assert_eq(jd_encoder_trigger(enc, &tr, -1, &out, &err), 0);
    unsigned char buf[4096];
    memcpy(buf, out.b_data, out.b_len);
    buf[out.b_len] = 0;
    cr_assert_eq(jd_encoder_trigger_decode(enc, buf, out.b_len + 1, &got, &err), JD_ERR_SKIP);
    cr_assert_eq(err.err_code, JD_E_TRAILING_BYTES);
    /* a product event is not a trigger */
    jd_event_t ev = {.ev_id = "e", .ev_account = "a", .ev_type_name = "t"};
    cr_assert_eq(jd_encoder_event(enc, &ev, -1, &out, &err), 0);
    cr_assert_eq(jd_encoder_trigger_decode(enc, out.b_data, out.b_len, &got, &err), JD_ERR_SKIP);
    cr_assert_eq(err.err_code, JD_E_MALFORMED);
}

/* ---- python3-avro interop --------------------------------------------------- */

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    cr_assert_not_null(fp, "%s", path);
    cr_assert_eq(fwrite(p, 1, n, fp), n);
    cr_assert_eq(fclose(fp), 0);
}

/* Runs `cmd`, captures stdout into buf; returns the exit status. */
static int run(const char *cmd, char *buf, size_t cap)
{
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "%s", cmd);
    size_t n = fread(buf, 1, cap - 1, p);
    buf[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char py_read_trigger[] =
    "import sys, io, avro.schema, avro.io, datetime\n"
    "s = avro.schema.parse(open(sys.argv[1]).read())\n"
    "d = avro.io.DatumReader(s, s).read(avro.io.BinaryDecoder(io.BytesIO(open(sys.argv[2], 'rb').read())))\n"
    "ep = datetime.datetime(1970, 1, 1, tzinfo=d['fired_at'].tzinfo)\n"
    "ms = (d['fired_at'] - ep) // datetime.timedelta(milliseconds=1)\n"
    "ev = ','.join('%s=%r' % kv for kv in sorted(d['evidence'].items()))\n"
    "print(d['trigger_id'], d['account_id'], d['kind'], d['rule_id'], d['rule_version'],\n"
    "      d['severity'], d['play'], d['segment'], ms, ev, d['source_topic'],\n"
    "      d['source_partition'], d['source_offset'], sep='|')\n"
    "print(d['status'], d['priority'], d['owner'], d['channel'], d['level'], d['shadow'], sep='|')\n"
    "print(d['reason'])\n";

Test(trigger, python_avro_decodes_c_trigger)
{
    jd_trigger_t tr = sample_trigger();
    char path[] = "/tmp/jd_trigger_XXXXXX", cmd[8192], got[4096], want[4096];
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(jd_encoder_trigger(enc, &tr, 42, &out, &err), 0, "%s", err.err_msg);
    cr_assert_eq(out.b_data[0], 0x00);
    write_file(path, out.b_data + 5, out.b_len - 5); /* strip the framing */

    snprintf(cmd, sizeof cmd, PYTHON " -c \"$JD_PY\" '%s/schemas/trigger_event.avsc' '%s'",
             source_dir(), path);
    setenv("JD_PY", py_read_trigger, 1);
    int st = run(cmd, got, sizeof got);
    unlink(path);
    cr_assert_eq(st, 0, "python exit %d, output: %s", st, got);
    snprintf(want, sizeof want,
             "%s|acct-42|RISK|risk.admins_silent|2024-06-01.1|CRITICAL|"
             "exec_sponsor_outreach|enterprise|1717171717171|"
             "admin_logins_14d=0.0,days_to_renewal=45.0,nps_last=-1.5|"
             "product-events|7|1234567890123\n"
             "RESOLVED|-12|csm|crm_task|needs_attention|True\n%s\n",
             tr.tr_id, tr.tr_reason);
    cr_assert_str_eq(got, want);
    cr_assert(strstr(got, tr.tr_id) == got, "trigger_id first");
}

static const char py_write_event[] =
    "import sys, io, avro.schema, avro.io, datetime\n"
    "s = avro.schema.parse(open(sys.argv[1]).read())\n"
    "ts = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(milliseconds=int(sys.argv[3]))\n"
    "full = {'event_id': 'py-évt-1', 'account_id': 'acct-日本', 'user_id': 'u-1',\n"
    "        'type': 'csat_response', 'feature': None, 'occurred_at': ts, 'value': 4.0,\n"
    "        'attributes': {'case_id': 'C-17', 'severity': 'p2', 'emoji': '\\U0001F600'}}\n"
    "bare = {'event_id': 'py-2', 'account_id': 'a', 'user_id': None, 'type': 'go_live',\n"
    "        'feature': None, 'occurred_at': ts, 'value': None, 'attributes': {}}\n"
    "for datum, path in ((full, sys.argv[2]), (bare, sys.argv[2] + '.bare')):\n"
    "    b = io.BytesIO()\n"
    "    avro.io.DatumWriter(s).write(datum, avro.io.BinaryEncoder(b))\n"
    "    open(path, 'wb').write(b.getvalue())\n";

static size_t read_file(const char *path, unsigned char *buf, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "%s", path);
    size_t n = fread(buf, 1, cap, fp);
    fclose(fp);
    return n;
}

Test(trigger, c_decodes_python_avro_event)
{
    char path[] = "/tmp/jd_event_XXXXXX", bare[64], cmd[8192], schema[4096];
    unsigned char msg[4096 + 5];
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    snprintf(bare, sizeof bare, "%s.bare", path);
    snprintf(schema, sizeof schema, "%s/schemas/product_event.avsc", source_dir());
    snprintf(cmd, sizeof cmd, PYTHON " -c \"$JD_PY\" '%s' '%s' 1717171717171",
             schema, path);
    setenv("JD_PY", py_write_event, 1);
    char pyout[1024];
    int st = run(cmd, pyout, sizeof pyout);
    cr_assert_eq(st, 0, "python exit %d: %s", st, pyout);

    size_t n = read_file(path, msg + 5, sizeof msg - 5);
    unlink(path);
    jd_event_t ev;
    for (int framed = 0; framed < 2; framed++) {
        const unsigned char *p = msg + 5;
        size_t len = n;
        if (framed) { /* the same body under a Confluent id, schema from file */
            cr_assert_eq(jd_decoder_add_schema_file(dec, 100, schema, &err), 0, "%s", err.err_msg);
            memcpy(msg, "\x00\x00\x00\x00\x64", 5);
            p = msg;
            len = n + 5;
        }
        cr_assert_eq(jd_decoder_decode(dec, p, len, &ar, &ev, &err), 0, "%s", err.err_msg);
        cr_assert_str_eq(ev.ev_id, "py-évt-1");
        cr_assert_str_eq(ev.ev_account, "acct-日本");
        cr_assert_str_eq(ev.ev_user, "u-1");
        cr_assert_eq(ev.ev_type, JD_EV_CSAT_RESPONSE);
        cr_assert_null(ev.ev_feature);
        cr_assert_eq(ev.ev_occurred_at, INT64_C(1717171717171));
        cr_assert_eq(ev.ev_has_value, 1);
        cr_assert_eq(ev.ev_value, 4.0);
        cr_assert_eq(ev.ev_attr_cnt, 3);
        cr_assert_str_eq(jd_event_attr(&ev, "case_id"), "C-17");
        cr_assert_str_eq(jd_event_attr(&ev, "emoji"), "\xf0\x9f\x98\x80");
    }

    n = read_file(bare, msg, sizeof msg);
    unlink(bare);
    cr_assert_eq(jd_decoder_decode(dec, msg, n, &ar, &ev, &err), 0, "%s", err.err_msg);
    cr_assert_str_eq(ev.ev_id, "py-2");
    cr_assert_null(ev.ev_user);
    cr_assert_eq(ev.ev_has_value, 0);
    cr_assert_eq(ev.ev_attr_cnt, 0);
    cr_assert_eq(ev.ev_type, JD_EV_GO_LIVE);

    /* and the C encoder produces python's exact bytes for the bare event */
    jd_event_t again = ev;
    cr_assert_eq(jd_encoder_event(enc, &again, -1, &out, &err), 0);
    cr_assert_eq(out.b_len, n);
    cr_assert_eq(memcmp(out.b_data, msg, n), 0);
}
