/*
 * jd_corpus: a directory of raw messages listed in a MANIFEST, for
 * `journeyd simulate --corpus DIR` (hostile-input tests and demos).
 *
 * DIR/MANIFEST has one message per line, "NAME [anything...]", `#` lines
 * and blank lines ignored; the message is the bytes of DIR/NAME.bin (which
 * may be empty). jd_corpus_load returns an object owned by the caller,
 * freed with jd_corpus_destroy (NULL accepted). Main thread.
 */
#ifndef JD_CORPUS_H
#define JD_CORPUS_H

#include <stddef.h>

#include "jd_err.h"

typedef struct jd_corpus_msg {
    char          *cm_name;
    unsigned char *cm_data;
    size_t         cm_len;
} jd_corpus_msg_t;

typedef struct jd_corpus {
    jd_corpus_msg_t *cp_msgs;
    size_t           cp_cnt;
} jd_corpus_t;

/* Loads every message of dir's MANIFEST; NULL with err set (naming the
 * file and line) when the manifest or a message cannot be read. */
jd_corpus_t *jd_corpus_load(const char *dir, jd_err_t *err);

void jd_corpus_destroy(jd_corpus_t *cp);

#endif
