/*
 * fuzz_config: libFuzzer target for the YAML configuration loader.
 *
 * The input is a configuration file (jd_config_load_buffer). Loading must
 * never crash, recurse without bound or expand aliases without bound; a
 * failure must be a fatal configuration error whose message starts with
 * the file name and a position ("fuzz.yaml:LINE:COLUMN"), the contract
 * `journeyd config check` relies on. Whatever loads is validated (either
 * result is fine, a failure again a fatal error with a message) and
 * printed the way `journeyd config show` prints it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_config.h"

static void jd_fuzz_check_err(const jd_err_t *err, int positioned)
{
    if (err->err_class != JD_ERR_FATAL || !err->err_msg[0])
        abort();
    if (positioned && strncmp(err->err_msg, "fuzz.yaml:", 10) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *devnull;
    jd_config_t *cf;
    jd_err_t err;

    if (!devnull && !(devnull = fopen("/dev/null", "w")))
        abort();
    if (size > 64 * 1024 || !(cf = jd_config_new()))
        return 0;
    if (jd_config_load_buffer(cf, (const char *)data, size, "fuzz.yaml", &err)) {
        jd_fuzz_check_err(&err, 1);
    } else {
        if (jd_config_validate(cf, &err))
            jd_fuzz_check_err(&err, 0);
        jd_config_print(cf, devnull);
    }
    jd_config_destroy(cf);
    return 0;
}
