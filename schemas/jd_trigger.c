/*
 * jd_trigger: names of trigger kinds and severities, and the deterministic
 * trigger id (contract in jd_trigger.h).
 *
 * The trigger id is what downstream consumers de-duplicate on, so its
 * definition is frozen: XXH3-128 (seed 0) over
 *     account_id 0x1f rule_id 0x1f decimal(episode)
 * printed as 32 lowercase hex digits of the canonical (big-endian) form,
 * i.e. high 64 bits first - the same text as `xxh128sum` or Python's
 * xxhash.xxh3_128_hexdigest() of those bytes. The 0x1f (unit separator)
 * bytes keep ("ab","c") and ("a","bc") apart; ids and rule names never
 * contain control characters. A re-send of the same episode yields the
 * same id; the next firing (episode + 1) yields a new one.
 * jd_trigger_hash_id() is that definition for any list of parts; the
 * journey stage event id (jd_stage.c) is made with it too.
 *
 * Pure, allocation-free (the hash state lives on the stack), thread-safe.
 */
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include "jd_trigger.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

static const char *const jd_kind_symbols[JD_KIND__COUNT] = {
    "RISK", "RENEWAL_READINESS", "EXPANSION",
};
static const char *const jd_kind_names[JD_KIND__COUNT] = {
    "risk", "renewal_readiness", "expansion",
};
static const char *const jd_severity_symbols[JD_SEV__COUNT] = {
    "LOW", "MEDIUM", "HIGH", "CRITICAL",
};

const char *jd_kind_symbol(jd_kind_t k)
{
    if ((int)k < 0 || k >= JD_KIND__COUNT)
        return "UNKNOWN";
    return jd_kind_symbols[k];
}

const char *jd_kind_name(jd_kind_t k)
{
    if ((int)k < 0 || k >= JD_KIND__COUNT)
        return "unknown";
    return jd_kind_names[k];
}

/* Case-insensitive, so the Avro symbol ("RISK") is accepted too. */
int jd_kind_parse(const char *s)
{
    if (!s)
        return -1;
    for (int k = 0; k < JD_KIND__COUNT; k++) {
        if (strcasecmp(s, jd_kind_names[k]) == 0)
            return k;
    }
    return -1;
}

const char *jd_trigger_status_symbol(jd_trigger_status_t s)
{
    return s == JD_STATUS_RESOLVED ? "RESOLVED" : "FIRED";
}

const char *jd_severity_symbol(jd_severity_t s)
{
    if ((int)s < 0 || s >= JD_SEV__COUNT)
        return "UNKNOWN";
    return jd_severity_symbols[s];
}

int jd_severity_parse(const char *s)
{
    if (!s)
        return -1;
    for (int v = 0; v < JD_SEV__COUNT; v++) {
        if (strcasecmp(s, jd_severity_symbols[v]) == 0)
            return v;
    }
    return -1;
}

void jd_trigger_hash_id(char *out, const char *const *parts, size_t n)
{
    static const char sep = 0x1f;
    XXH3_state_t st;

    XXH3_INITSTATE(&st);
    XXH3_128bits_reset(&st);
    for (size_t i = 0; i < n; i++) {
        if (i)
            XXH3_128bits_update(&st, &sep, 1);
        if (parts[i])
            XXH3_128bits_update(&st, parts[i], strlen(parts[i]));
    }
    XXH128_hash_t h = XXH3_128bits_digest(&st);
    snprintf(out, JD_TRIGGER_ID_LEN + 1, "%016" PRIx64 "%016" PRIx64,
             (uint64_t)h.high64, (uint64_t)h.low64);
}

void jd_trigger_make_id(char *out, const char *account, const char *rule_id,
                        uint64_t episode)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRIu64, episode);
    const char *parts[] = {account, rule_id, num};
    jd_trigger_hash_id(out, parts, 3);
}
