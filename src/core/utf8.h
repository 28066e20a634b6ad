/*
 * UTF-8: the one place where text is decoded, encoded, validated and sanitised. Every byte of
 * text doclayout writes is valid UTF-8 (RFC 3629): no surrogates (U+D800..U+DFFF), nothing
 * past U+10FFFF, no overlong forms. Malformed input becomes U+FFFD, one per maximal subpart
 * of an ill-formed sequence (Unicode's recommended practice, and what Python's
 * bytes.decode("utf-8", "replace") does), so counts agree with Python's str.
 */
#ifndef DL_CORE_UTF8_H
#define DL_CORE_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "doclayout.h"

#define DL_UTF8_REPLACEMENT 0xFFFDu

/* 1 for a Unicode scalar value (a code point that is not a surrogate, at most U+10FFFF). */
static inline int dl_utf8_is_scalar(int64_t c) {
    return c >= 0 && c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF);
}

/* Decode one code point from s[0..n) (n >= 1): returns the bytes consumed (1..4) and sets *cp,
 * U+FFFD for an ill-formed sequence (then the bytes of its maximal subpart are consumed). */
size_t dl_utf8_decode(const char *s, size_t n, uint32_t *cp);

/* Encode c into out (room for 4 bytes); a value that is not a scalar value encodes U+FFFD.
 * Returns the length (1..4). */
size_t dl_utf8_encode(int64_t c, char out[4]);

/* 1 when s[0..n) is valid UTF-8. */
int dl_utf8_valid(const char *s, size_t n);

/* The number of code points in s[0..n) as dl_utf8_decode reads them (Python's len() of the
 * decoded str, each ill-formed subpart counting as one U+FFFD). */
size_t dl_utf8_count(const char *s, size_t n);

/* dl_utf8_sanitize (a valid UTF-8 copy of any bytes) is public: doclayout.h */

#endif
