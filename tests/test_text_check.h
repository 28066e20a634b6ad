/*
 * Strict checks on the text doclayout writes: valid UTF-8 (RFC 3629's table, written here
 * independently of core/utf8 so the oracle is not the code under test) and, for the JSON
 * formats, exactly one JSON value with nothing after it.
 */
#ifndef DL_TESTS_TEST_TEXT_CHECK_H
#define DL_TESTS_TEST_TEXT_CHECK_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

/* 1 when s[0..n) is well-formed UTF-8; otherwise 0 and *bad_at (optional) = the offset of the
 * first byte of the first ill-formed sequence. */
static inline int dl_test_strict_utf8(const char *str, size_t n, size_t *bad_at) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned b = s[i];
        size_t need;
        unsigned lo = 0x80, hi = 0xBF;
        if (b <= 0x7F) need = 0;
        else if (b >= 0xC2 && b <= 0xDF) need = 1;
        else if (b == 0xE0) need = 2, lo = 0xA0;
        else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) need = 2;
        else if (b == 0xED) need = 2, hi = 0x9F; /* no surrogates */
        else if (b == 0xF0) need = 3, lo = 0x90;
        else if (b >= 0xF1 && b <= 0xF3) need = 3;
        else if (b == 0xF4) need = 3, hi = 0x8F; /* nothing past U+10FFFF */
        else goto bad;
        if (i + need >= n && need) goto bad;
        for (size_t k = 1; k <= need; k++) {
            unsigned c = s[i + k];
            if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) goto bad;
        }
        i += need + 1;
    }
    return 1;
bad:
    if (bad_at) *bad_at = i;
    return 0;
}

/* Check text written by doclayout (no NUL byte, strict UTF-8, and for json one complete JSON
 * value). Prints why not to stderr, naming `what`. Returns 1 when it passes. */
static inline int dl_test_check_text(const char *what, const char *text, size_t n, int json) {
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        if (text[i] == '\0') {
            fprintf(stderr, "%s: a NUL byte at offset %zu\n", what, i);
            return 0;
        }
    if (!dl_test_strict_utf8(text, n, &at)) {
        fprintf(stderr, "%s: invalid UTF-8 at byte %zu (%02x %02x %02x)\n", what, at,
                (unsigned char)text[at], at + 1 < n ? (unsigned char)text[at + 1] : 0,
                at + 2 < n ? (unsigned char)text[at + 2] : 0);
        return 0;
    }
    if (!json) return 1;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    int ok = j != NULL;
    if (ok) {
        while (end < text + n && (*end == ' ' || *end == '\n' || *end == '\t' || *end == '\r'))
            end++;
        ok = end == text + n;
    }
    cJSON_Delete(j);
    if (!ok) fprintf(stderr, "%s: not one complete JSON value\n", what);
    return ok;
}

/* dl_test_check_text on a file's bytes. */
static inline int dl_test_check_text_file(const char *path, int json) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        return 0;
    }
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    size_t k;
    while (b && (k = fread(b + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            char *g = realloc(b, cap *= 2);
            if (!g) free(b);
            b = g;
        }
    }
    fclose(f);
    int ok = b && dl_test_check_text(path, b, n, json);
    free(b);
    return ok;
}

#endif
