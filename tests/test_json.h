/* Tests that read JSON results: a file parsed with cJSON (NULL when unreadable or invalid). Every
 * file read this way is first checked strictly (UTF-8, one JSON value: test_text_check.h). */
#ifndef DL_TESTS_TEST_JSON_H
#define DL_TESTS_TEST_JSON_H

#include <cjson/cJSON.h>
#include <stdlib.h>

#include "io/file.h"
#include "test_text_check.h"

static inline cJSON *dl_test_load_json(const char *path) {
    void *b;
    size_t n;
    dl_error err;
    if (dl_read_file(path, 1 << 26, &b, &n, &err) != DL_OK) return NULL;
    cJSON *j = dl_test_check_text(path, b, n, 1) ? cJSON_Parse(b) : NULL;
    free(b);
    return j;
}

#endif
