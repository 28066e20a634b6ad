#include "core/utf8.h"

#include <stdlib.h>
#include <string.h>

size_t dl_utf8_decode(const char *str, size_t n, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)str;
    unsigned b0 = s[0];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    /* the number of continuation bytes, and the range allowed for the first of them (which
     * excludes overlong forms, surrogates and values past U+10FFFF: RFC 3629's table) */
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    uint32_t c;
    if (b0 >= 0xC2 && b0 <= 0xDF) need = 1, c = b0 & 0x1F;
    else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 2, c = b0 & 0x0F;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 3, c = b0 & 0x07;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        *cp = DL_UTF8_REPLACEMENT;
        return 1;
    }
    for (size_t i = 1; i <= need; i++) {
        unsigned b = i < n ? s[i] : 0;
        if (i >= n || b < lo || b > hi) {
            *cp = DL_UTF8_REPLACEMENT;
            return i;
        }
        c = (c << 6) | (b & 0x3F);
        lo = 0x80, hi = 0xBF;
    }
    *cp = c;
    return need + 1;
}

size_t dl_utf8_encode(int64_t c, char out[4]) {
    if (!dl_utf8_is_scalar(c)) c = DL_UTF8_REPLACEMENT;
    uint32_t u = (uint32_t)c;
    if (u < 0x80) {
        out[0] = (char)u;
        return 1;
    }
    if (u < 0x800) {
        out[0] = (char)(0xC0 | (u >> 6));
        out[1] = (char)(0x80 | (u & 0x3F));
        return 2;
    }
    if (u < 0x10000) {
        out[0] = (char)(0xE0 | (u >> 12));
        out[1] = (char)(0x80 | ((u >> 6) & 0x3F));
        out[2] = (char)(0x80 | (u & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (u >> 18));
    out[1] = (char)(0x80 | ((u >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((u >> 6) & 0x3F));
    out[3] = (char)(0x80 | (u & 0x3F));
    return 4;
}

int dl_utf8_valid(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t c;
        size_t k = dl_utf8_decode(s + i, n - i, &c);
        /* a U+FFFD that is not the encoded U+FFFD itself stands for an ill-formed sequence */
        if (c == DL_UTF8_REPLACEMENT && (k != 3 || memcmp(s + i, "\xEF\xBF\xBD", 3) != 0)) return 0;
        i += k;
    }
    return 1;
}

size_t dl_utf8_count(const char *s, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i < n; count++) {
        uint32_t c;
        i += dl_utf8_decode(s + i, n - i, &c);
    }
    return count;
}

char *dl_utf8_sanitize(const char *s, size_t n, size_t *out_len) {
    /* each input byte becomes at most 3 output bytes (one U+FFFD) */
    if (n > ((size_t)-1 - 1) / 3) return NULL;
    char *out = malloc(n * 3 + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t k = dl_utf8_decode(s + i, n - i, &c);
        if (c == 0) c = DL_UTF8_REPLACEMENT;
        if (c == DL_UTF8_REPLACEMENT || k != 1) o += dl_utf8_encode(c, out + o);
        else out[o++] = s[i];
        i += k;
    }
    out[o] = '\0';
    if (out_len) *out_len = o;
    char *shrunk = realloc(out, o + 1);
    return shrunk ? shrunk : out;
}
