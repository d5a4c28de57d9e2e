/*
 * fuzz_mapping: libFuzzer target for the field-mapping configuration
 * (`mapping.*`, jd_mapping_set / jd_mapping_check / jd_mapping_check_schema).
 *
 * The input is lines of KEY=VALUE (keys without the "mapping." prefix);
 * each goes to jd_mapping_set on a fresh mapping, then a complete mapping
 * is checked and matched against the example upstream schema
 * (schemas/examples/segment_track.avsc) and printed. Any error must be a
 * fatal configuration error with a message, never a crash, a leak or
 * undefined behaviour.
 */
#include <avro.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_mapping.h"

static avro_schema_t jd_fuzz_track;

static void jd_fuzz_init(void)
{
    char path[1024];
    static char text[1 << 16];
    snprintf(path, sizeof path, "%s/schemas/examples/segment_track.avsc", JD_SOURCE_DIR);
    FILE *fp = fopen(path, "rb");
    size_t n = fp ? fread(text, 1, sizeof text - 1, fp) : 0;
    if (fp)
        fclose(fp);
    if (!n || avro_schema_from_json_length(text, n, &jd_fuzz_track))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jd_err_t err;
    char *text, *line, *save = NULL;

    if (!jd_fuzz_track)
        jd_fuzz_init();
    if (!(text = malloc(size + 1)))
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    jd_mapping_t *mp = jd_mapping_new();
    if (!mp)
        abort();
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        int rc = jd_mapping_set(mp, line, eq + 1, &err);
        if (rc && (rc != JD_ERR_FATAL || !err.err_msg[0]))
            abort();
    }
    if (jd_mapping_active(mp) && jd_mapping_check(mp, &err) == 0) {
        int rc = jd_mapping_check_schema(mp, jd_fuzz_track, "segment_track.avsc", &err);
        if (rc && (rc != JD_ERR_FATAL || !err.err_msg[0]))
            abort();
        FILE *devnull = fopen("/dev/null", "w");
        if (devnull) {
            jd_mapping_print(mp, devnull);
            fclose(devnull);
        }
    }
    jd_mapping_destroy(mp);
    free(text);
    return 0;
}
