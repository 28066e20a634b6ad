#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *dl_status_string(dl_status status) {
    switch (status) {
    case DL_OK: return "ok";
    case DL_ERR_INVALID_ARGUMENT: return "invalid argument";
    case DL_ERR_IO: return "i/o error";
    case DL_ERR_FORMAT: return "format error";
    case DL_ERR_UNSUPPORTED: return "unsupported";
    case DL_ERR_MODEL: return "model error";
    case DL_ERR_LIMIT: return "limit exceeded";
    case DL_ERR_OUT_OF_MEMORY: return "out of memory";
    case DL_ERR_BACKEND: return "backend error";
    case DL_ERR_INTERNAL: return "internal error";
    case DL_ERR_CANCELLED: return "cancelled";
    case DL_ERR_BUSY: return "busy";
    case DL_ERR_TIMEOUT: return "timed out";
    }
    return "unknown status";
}

void dl_error_clear(dl_error *err) {
    if (err) {
        err->code = DL_OK;
        err->message[0] = '\0';
    }
}

dl_status dl_fail(dl_error *err, dl_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

dl_status dl_fail_prefix(dl_error *err, const char *fmt, ...) {
    if (!err) return DL_ERR_INTERNAL;
    char prefix[DL_ERROR_MESSAGE_MAX];
    char old[DL_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof old);
    size_t n = strlen(prefix);
    if (n >= sizeof err->message) n = sizeof err->message - 1;
    memcpy(err->message, prefix, n);
    size_t m = strnlen(old, sizeof old);
    if (m > sizeof err->message - 1 - n) m = sizeof err->message - 1 - n;
    memcpy(err->message + n, old, m);
    err->message[n + m] = '\0';
    return err->code;
}
