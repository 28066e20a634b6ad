/* Internal error helpers: every failure path fills a dl_error and returns its code. */
#ifndef DL_CORE_ERROR_H
#define DL_CORE_ERROR_H

#include "doclayout.h"

#if defined(__GNUC__)
#define DL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DL_PRINTF(a, b)
#endif

/* Set err (if not NULL) to `code` and a printf-style message; returns `code`. */
dl_status dl_fail(dl_error *err, dl_status code, const char *fmt, ...) DL_PRINTF(3, 4);

/* Prefix an existing message with context ("model.safetensors: " + old message). */
dl_status dl_fail_prefix(dl_error *err, const char *fmt, ...) DL_PRINTF(2, 3);

/* Clear err to DL_OK and an empty message. */
void dl_error_clear(dl_error *err);

#endif
