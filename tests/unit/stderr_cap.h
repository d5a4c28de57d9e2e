/*
 * stderr_cap: what a piece of a test writes to stderr (fd 2, so fprintf and
 * fputs alike), read back into a buffer. For the unit tests of messages
 * printed by the code under test.
 */
#ifndef JD_TEST_STDERR_CAP_H
#define JD_TEST_STDERR_CAP_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <unistd.h>

typedef struct stderr_cap {
    char  sc_path[64];
    FILE *sc_file;
    int   sc_saved;   /* the real fd 2 */
} stderr_cap_t;

/* From here on fd 2 goes to a temporary file. */
static inline void stderr_cap_begin(stderr_cap_t *c)
{
    snprintf(c->sc_path, sizeof c->sc_path, "/tmp/jd-stderr-%d.txt", (int)getpid());
    fflush(stderr);
    c->sc_saved = dup(2);
    c->sc_file = fopen(c->sc_path, "w+");
    cr_assert(c->sc_file && c->sc_saved >= 0);
    dup2(fileno(c->sc_file), 2);
}

/* Restores fd 2 and copies what was written (NUL-terminated, cut at cap). */
static inline void stderr_cap_end(stderr_cap_t *c, char *out, size_t cap)
{
    fflush(stderr);
    dup2(c->sc_saved, 2);
    close(c->sc_saved);
    rewind(c->sc_file);
    size_t n = fread(out, 1, cap - 1, c->sc_file);
    out[n] = '\0';
    fclose(c->sc_file);
    unlink(c->sc_path);
}

#endif
