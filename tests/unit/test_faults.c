/*
 * Broker fault lines (journeyd broker --faults): the pure parser.
 */
#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>

#include "jd_faults.h"

Test(faults, errors_with_defaults_and_names)
{
    jd_fault_t f;
    jd_err_t err;
    cr_assert_eq(jd_fault_parse("errors produce 3", &f, &err), 0);
    cr_assert_eq(f.ft_kind, JD_FAULT_ERRORS);
    cr_assert_eq(f.ft_api, 0);
    cr_assert_eq(f.ft_count, 3);
    cr_assert_eq(f.ft_error, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
    cr_assert_eq(jd_fault_parse("errors OffsetCommit 2", &f, &err), 0);
    cr_assert_eq(f.ft_api, 8);
    cr_assert_eq(f.ft_error, RD_KAFKA_RESP_ERR_NOT_COORDINATOR);
    cr_assert_eq(jd_fault_parse("errors fetch 1 REQUEST_TIMED_OUT  # slow", &f, &err), 0);
    cr_assert_eq(f.ft_api, 1);
    cr_assert_eq(f.ft_error, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    cr_assert_eq(jd_fault_parse("errors fetch 1 7", &f, &err), 0);
    cr_assert_eq(f.ft_error, 7);
}

Test(faults, down_up_blank)
{
    jd_fault_t f;
    jd_err_t err;
    cr_assert_eq(jd_fault_parse("down 2 5\n", &f, &err), 0);
    cr_assert_eq(f.ft_kind, JD_FAULT_DOWN);
    cr_assert_eq(f.ft_broker, 2);
    cr_assert_eq(f.ft_secs, 5);
    cr_assert_eq(jd_fault_parse("up 1", &f, &err), 0);
    cr_assert_eq(f.ft_kind, JD_FAULT_UP);
    cr_assert_eq(f.ft_broker, 1);
    cr_assert_eq(jd_fault_parse("   # nothing", &f, &err), 0);
    cr_assert_eq(f.ft_kind, JD_FAULT_NONE);
}

Test(faults, bad_lines_are_refused_with_a_reason)
{
    const char *bad[] = {"errors", "errors producer 1", "errors produce 0",
                         "errors produce x", "errors produce 1 NO_SUCH_ERROR",
                         "down 1", "down 0 5", "down 1 -3", "up", "explode 1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jd_fault_t f;
        jd_err_t err = {0};
        cr_assert_eq(jd_fault_parse(bad[i], &f, &err), JD_ERR_FATAL, "%s", bad[i]);
        cr_assert(err.err_msg[0], "%s: no message", bad[i]);
    }
}
