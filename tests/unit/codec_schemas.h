/*
 * codec_schemas.h: writer schemas shared by the codec tests (test_codec.c
 * decodes hand-written messages of them, test_prog.c compares the fast
 * path with avro-c's generic reader on random messages of them).
 * Header-only: every test file is its own executable.
 */
#ifndef JD_TEST_CODEC_SCHEMAS_H
#define JD_TEST_CODEC_SCHEMAS_H

/* v2: adds `source` (with default) in the middle and `tags` at the end,
 * moves occurred_at first, swaps user_id/account_id, and writes `value`
 * as ["null","float"]. */
static const char *const schema_v2 __attribute__((unused)) =
    "{\"type\":\"record\",\"name\":\"ProductEvent\",\"namespace\":\"journeyd\",\"fields\":["
    "{\"name\":\"occurred_at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"user_id\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"account_id\",\"type\":\"string\"},"
    "{\"name\":\"source\",\"type\":\"string\",\"default\":\"web\"},"
    "{\"name\":\"type\",\"type\":\"string\"},"
    "{\"name\":\"feature\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"value\",\"type\":[\"null\",\"float\"],\"default\":null},"
    "{\"name\":\"attributes\",\"type\":{\"type\":\"map\",\"values\":\"string\"},\"default\":{}},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"},\"default\":[]}]}";

#endif
