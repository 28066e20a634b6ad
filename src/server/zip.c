/*
 * Zip archives in memory for the document API's answers with several documents (docling-serve
 * answers them with converted_docs.zip), written with libzip. A build without libzip
 * (DL_HAVE_ZIP undefined: a minimal or cross build) says so, and the API then refuses
 * requests that would need a zip.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/docling.h"

#ifdef DL_HAVE_ZIP
#include <zip.h>

bool srv_zip_available(void) { return true; }

char *srv_zip_build(const srv_zip_member *members, int n, size_t *len, char *msg, size_t size) {
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *za = src ? zip_open_from_source(src, ZIP_TRUNCATE, &ze) : NULL;
    char *out = NULL;
    if (!za) {
        snprintf(msg, size, "cannot make a zip: %s", zip_error_strerror(&ze));
        zip_source_free(src);
        zip_error_fini(&ze);
        return NULL;
    }
    zip_source_keep(src); /* read back after zip_close */
    bool ok = true;
    for (int i = 0; ok && i < n; i++) {
        zip_source_t *m = zip_source_buffer(za, members[i].data, members[i].size, 0);
        zip_int64_t idx = m ? zip_file_add(za, members[i].name, m, ZIP_FL_ENC_UTF_8) : -1;
        if (idx < 0) {
            zip_source_free(m);
            ok = false;
        } else {
            zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_DEFLATE, 0);
        }
    }
    if (!ok) {
        snprintf(msg, size, "cannot make a zip: %s", zip_strerror(za));
        zip_discard(za);
    } else if (zip_close(za) != 0) {
        snprintf(msg, size, "cannot make a zip: %s", zip_strerror(za));
        zip_discard(za);
        ok = false;
    }
    zip_stat_t st;
    if (ok && zip_source_open(src) == 0) {
        if (zip_source_stat(src, &st) == 0 && (st.valid & ZIP_STAT_SIZE) &&
            (out = malloc(st.size + 1)) != NULL) {
            zip_int64_t got = zip_source_read(src, out, st.size);
            if (got != (zip_int64_t)st.size) {
                free(out);
                out = NULL;
            } else {
                *len = (size_t)st.size;
            }
        }
        zip_source_close(src);
        if (!out) snprintf(msg, size, "cannot read the zip back (out of memory?)");
    } else if (ok) {
        snprintf(msg, size, "cannot read the zip back");
    }
    zip_source_free(src);
    zip_error_fini(&ze);
    return out;
}

#else

bool srv_zip_available(void) { return false; }

char *srv_zip_build(const srv_zip_member *members, int n, size_t *len, char *msg, size_t size) {
    (void)members;
    (void)n;
    (void)len;
    snprintf(msg, size, "this build of doclayout has no zip support (built without libzip)");
    return NULL;
}

#endif
