/* Tests that read JSON results: a file parsed with cJSON (NULL when unreadable or invalid). */
#ifndef DL_TESTS_TEST_JSON_H
#define DL_TESTS_TEST_JSON_H

#include <cjson/cJSON.h>
#include <stdlib.h>

#include "io/file.h"

static inline cJSON *dl_test_load_json(const char *path) {
    void *b;
    size_t n;
    dl_error err;
    if (dl_read_file(path, 1 << 26, &b, &n, &err) != DL_OK) return NULL;
    cJSON *j = cJSON_Parse(b);
    free(b);
    return j;
}

#endif
