#include "output/json_text.h"

#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"

cJSON *dl_json_text(const char *s) {
    if (!s) s = "";
    size_t n = strlen(s);
    if (dl_utf8_valid(s, n)) return cJSON_CreateString(s);
    char *clean = dl_utf8_sanitize(s, n, NULL);
    if (!clean) return NULL;
    cJSON *j = cJSON_CreateString(clean);
    free(clean);
    return j;
}

cJSON *dl_json_add_text(cJSON *obj, const char *key, const char *s) {
    cJSON *j = dl_json_text(s);
    if (j && !cJSON_AddItemToObject(obj, key, j)) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

char *dl_json_print(const cJSON *j, int formatted) {
    char *t = formatted ? cJSON_Print(j) : cJSON_PrintUnformatted(j);
    if (!t) return NULL;
    size_t n = strlen(t);
    if (dl_utf8_valid(t, n)) return t;
    char *clean = dl_utf8_sanitize(t, n, NULL);
    free(t);
    return clean;
}
