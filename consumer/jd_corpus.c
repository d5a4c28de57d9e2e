/*
 * jd_corpus: loading a MANIFEST-listed directory of raw messages (contract
 * in jd_corpus.h). Messages are small test inputs, read whole into memory;
 * a message over 64 MiB is refused rather than read. Main thread.
 */
#include "jd_corpus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JD_CORPUS_MAX_BYTES (64u << 20)

static int jd_corpus_read(const char *path, jd_corpus_msg_t *cm, jd_err_t *err)
{
    FILE *f = fopen(path, "rb");
    long n;
    if (!f)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_IO, "%s: cannot open", path);
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > (long)JD_CORPUS_MAX_BYTES ||
        fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return jd_err_set(err, JD_ERR_FATAL, JD_E_IO, "%s: cannot read (or over 64 MiB)", path);
    }
    cm->cm_len = (size_t)n;
    cm->cm_data = malloc(cm->cm_len ? cm->cm_len : 1);
    if (!cm->cm_data || fread(cm->cm_data, 1, cm->cm_len, f) != cm->cm_len) {
        fclose(f);
        return jd_err_set(err, JD_ERR_FATAL, JD_E_IO, "%s: short read", path);
    }
    fclose(f);
    return 0;
}

/* Appends message `name` of dir to cp. */
static int jd_corpus_add(jd_corpus_t *cp, const char *dir, const char *name, jd_err_t *err)
{
    char path[4096];
    jd_corpus_msg_t *nm = realloc(cp->cp_msgs, (cp->cp_cnt + 1) * sizeof *nm);
    if (!nm)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    cp->cp_msgs = nm;
    memset(&nm[cp->cp_cnt], 0, sizeof *nm);
    if (!(nm[cp->cp_cnt].cm_name = strdup(name)))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    cp->cp_cnt++;
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    return jd_corpus_read(path, &nm[cp->cp_cnt - 1], err);
}

jd_corpus_t *jd_corpus_load(const char *dir, jd_err_t *err)
{
    char path[4096], line[1024];
    jd_corpus_t *cp = calloc(1, sizeof *cp);
    FILE *f;
    int ln = 0, rc = 0;

    snprintf(path, sizeof path, "%s/MANIFEST", dir);
    if (!cp || !(f = fopen(path, "r"))) {
        jd_err_set(err, JD_ERR_FATAL, cp ? JD_E_IO : JD_E_NOMEM, "%s: cannot open", path);
        free(cp);
        return NULL;
    }
    while (!rc && fgets(line, sizeof line, f)) {
        char *name = strtok(line, " \t\r\n");
        ln++;
        if (!name || name[0] == '#')
            continue;
        if ((rc = jd_corpus_add(cp, dir, name, err)))
            jd_err_prefix(err, "%s:%d", path, ln);
    }
    fclose(f);
    if (rc) {
        jd_corpus_destroy(cp);
        return NULL;
    }
    return cp;
}

void jd_corpus_destroy(jd_corpus_t *cp)
{
    if (!cp)
        return;
    for (size_t i = 0; i < cp->cp_cnt; i++) {
        free(cp->cp_msgs[i].cm_name);
        free(cp->cp_msgs[i].cm_data);
    }
    free(cp->cp_msgs);
    free(cp);
}
