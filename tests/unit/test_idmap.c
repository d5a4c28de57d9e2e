/*
 * jd_idmap: the id -> pointer table behind the decoder's schema table and
 * the registry cache. Checked against a plain array model through many
 * random puts and deletes (deletion shifts entries back: every id must
 * stay findable), including clustered consecutive ids.
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "jd_idmap.h"

static int32_t model_id(int j, int n)
{
    return j < n ? j : (int32_t)((uint32_t)j * 2654435761u); /* runs, then spread */
}

Test(idmap, matches_a_model_through_random_puts_and_deletes)
{
    enum { N = 512, M = 2 * N };
    static int vals[M];
    static int present[M];
    jd_idmap_t im;
    uint64_t x = 12345;

    for (int a = 0; a < M; a++)
        for (int b = a + 1; b < M; b++)
            cr_assert_neq(model_id(a, N), model_id(b, N));
    jd_idmap_init(&im);
    cr_assert_null(jd_idmap_get(&im, 7));
    jd_idmap_del(&im, 7); /* empty: nothing happens */
    for (int step = 0; step < 200000; step++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int j = (int)(x % M);
        if ((x >> 20) % 3) {
            cr_assert_eq(jd_idmap_put(&im, model_id(j, N), &vals[j], NULL), 0);
            present[j] = 1;
        } else {
            jd_idmap_del(&im, model_id(j, N));
            present[j] = 0;
        }
        if (step % 1000 == 0) {
            size_t n = 0;
            for (int i = 0; i < M; i++) {
                void *got = jd_idmap_get(&im, model_id(i, N));
                cr_assert_eq(got, present[i] ? &vals[i] : NULL, "id %d", (int)model_id(i, N));
                n += (size_t)present[i];
            }
            cr_assert_eq(n, im.im_n);
        }
    }
    jd_idmap_fini(&im);
    cr_assert_eq(im.im_n, 0);
}
