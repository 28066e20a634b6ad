/* The UTF-8 module (core/utf8): decoding with U+FFFD per maximal subpart as Python's
 * bytes.decode("utf-8", "replace") does (cases checked against Python 3.11), encoding of every
 * code point, validation against RFC 3629's table over all 1..3-byte sequences and sampled
 * 4-byte ones, and sanitising. */
#include <stdint.h>

#include "core/utf8.h"
#include "test_text_check.h"
#include "test_util.h"

static int rfc3629_valid(const unsigned char *s, size_t n) {
    return dl_test_strict_utf8((const char *)s, n, NULL);
}

/* Decode all of s into cps; returns the count. */
static size_t decode_all(const char *s, size_t n, uint32_t *cps, size_t max) {
    size_t k = 0;
    for (size_t i = 0; i < n && k < max;) {
        i += dl_utf8_decode(s + i, n - i, &cps[k]);
        k++;
    }
    return k;
}

static void python_cases(void) {
    /* bytes -> Python's decode(errors="replace") code points */
    static const struct {
        const char *in;
        size_t n;
        uint32_t want[5];
        size_t n_want;
    } cases[] = {
        {"\xed\xa0\x80", 3, {0xFFFD, 0xFFFD, 0xFFFD}, 3},             /* a lone surrogate, U+D800 */
        {"\xf4\x90\x80\x80", 4, {0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD}, 4}, /* U+110000 */
        {"\xe0\x80\xaf", 3, {0xFFFD, 0xFFFD, 0xFFFD}, 3},             /* overlong '/' */
        {"\xc0\xaf", 2, {0xFFFD, 0xFFFD}, 2},
        {"\xe2\x82", 2, {0xFFFD}, 1}, /* truncated euro sign: one maximal subpart */
        {"\xe2\x82x", 3, {0xFFFD, 'x'}, 2},
        {"\xf0\x9f\x98", 3, {0xFFFD}, 1},
        {"\xf0\x9f\x98\x80", 4, {0x1F600}, 1},
        {"a\x80"
         "b",
         3,
         {'a', 0xFFFD, 'b'},
         3},
        {"\xff", 1, {0xFFFD}, 1},
        {"\xef\xbf\xbd", 3, {0xFFFD}, 1},
        {"\xf5\x80", 2, {0xFFFD, 0xFFFD}, 2},
        {"\xd9\x84\xd8\xa7", 4, {0x644, 0x627}, 2}, /* lam, alef */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t got[8];
        size_t k = decode_all(cases[i].in, cases[i].n, got, 8);
        CHECK_MSG(k == cases[i].n_want, "case %zu: %zu code points, want %zu", i, k,
                  cases[i].n_want);
        for (size_t j = 0; j < k && j < cases[i].n_want; j++)
            CHECK_MSG(got[j] == cases[i].want[j], "case %zu cp %zu: %X want %X", i, j, got[j],
                      cases[i].want[j]);
        CHECK(dl_utf8_count(cases[i].in, cases[i].n) == cases[i].n_want);
        int valid = 1;
        for (size_t j = 0; j < cases[i].n_want; j++)
            if (cases[i].want[j] == 0xFFFD &&
                !(cases[i].n == 3 && memcmp(cases[i].in, "\xef\xbf\xbd", 3) == 0))
                valid = 0;
        CHECK_MSG(dl_utf8_valid(cases[i].in, cases[i].n) == valid, "case %zu validity", i);
        size_t len;
        char *s = dl_utf8_sanitize(cases[i].in, cases[i].n, &len);
        CHECK(s && dl_utf8_valid(s, len) && strlen(s) == len);
        CHECK(s && dl_utf8_count(s, len) == cases[i].n_want);
        if (valid) CHECK(s && len == cases[i].n && memcmp(s, cases[i].in, len) == 0);
        free(s);
    }
}

static void every_code_point(void) {
    int bad = 0;
    for (int64_t c = 0; c <= 0x10FFFF; c++) {
        char b[4];
        size_t n = dl_utf8_encode(c, b);
        uint32_t back;
        size_t k = dl_utf8_decode(b, n, &back);
        int scalar = !(c >= 0xD800 && c <= 0xDFFF);
        uint32_t want = scalar ? (uint32_t)c : 0xFFFD;
        size_t want_n = want < 0x80 ? 1 : want < 0x800 ? 2 : want < 0x10000 ? 3 : 4;
        if (k != n || back != want || n != want_n || !dl_utf8_valid(b, n) ||
            !rfc3629_valid((const unsigned char *)b, n))
            bad++;
    }
    CHECK_MSG(bad == 0, "%d code points do not round-trip", bad);
    char b[4];
    CHECK(dl_utf8_encode(-1, b) == 3 && memcmp(b, "\xef\xbf\xbd", 3) == 0);
    CHECK(dl_utf8_encode(0x110000, b) == 3 && memcmp(b, "\xef\xbf\xbd", 3) == 0);
    CHECK(dl_utf8_encode(0xDFFF, b) == 3 && memcmp(b, "\xef\xbf\xbd", 3) == 0);
    CHECK(dl_utf8_is_scalar(0x10FFFF) && !dl_utf8_is_scalar(0xD800) && !dl_utf8_is_scalar(-5));
}

static void all_short_sequences(void) {
    /* every 1-, 2- and 3-byte string, and 4-byte strings with each lead byte >= 0xF0 */
    int bad = 0;
    unsigned char s[4];
    for (unsigned a = 0; a < 256; a++) {
        s[0] = (unsigned char)a;
        if (dl_utf8_valid((char *)s, 1) != rfc3629_valid(s, 1)) bad++;
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (unsigned char)b;
            if (dl_utf8_valid((char *)s, 2) != rfc3629_valid(s, 2)) bad++;
            for (unsigned c = 0; c < 256; c++) {
                s[2] = (unsigned char)c;
                if (dl_utf8_valid((char *)s, 3) != rfc3629_valid(s, 3)) bad++;
                if (a >= 0xF0) {
                    for (unsigned d = 0x70; d < 0xD0; d += 0x0F) {
                        s[3] = (unsigned char)d;
                        if (dl_utf8_valid((char *)s, 4) != rfc3629_valid(s, 4)) bad++;
                    }
                }
            }
        }
    }
    CHECK_MSG(bad == 0, "%d byte strings judged differently from RFC 3629", bad);
    /* sanitised random bytes are always valid, and count the same as the original */
    unsigned state = 7;
    for (int t = 0; t < 2000; t++) {
        char buf[64];
        size_t n = (size_t)(t % 63) + 1;
        for (size_t i = 0; i < n; i++) {
            state = state * 1664525u + 1013904223u;
            buf[i] = (char)(state >> 24);
        }
        size_t len;
        char *out = dl_utf8_sanitize(buf, n, &len);
        CHECK(out && dl_utf8_valid(out, len) && strlen(out) == len &&
              dl_utf8_count(out, len) == dl_utf8_count(buf, n));
        free(out);
    }
    /* a NUL inside the range cannot stay in a C string */
    size_t len;
    char *z = dl_utf8_sanitize("a\0b", 3, &len);
    CHECK(z && len == 5 &&
          strcmp(z, "a\xef\xbf\xbd"
                    "b") == 0);
    free(z);
}

int main(void) {
    python_cases();
    every_code_point();
    all_short_sequences();
    return dl_test_finish("test_utf8");
}
