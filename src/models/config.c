#include "models/config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

static const cJSON *item(dl_cfg *c, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->root, key);
    return cJSON_IsNull(v) ? NULL : v;
}

static void fail(dl_cfg *c, dl_status code, const char *key, const char *what) {
    if (c->status != DL_OK) return;
    c->status = dl_fail(c->err, code, "%s: field \"%s\" %s", c->file, key, what);
}

double dl_cfg_num(dl_cfg *c, const char *key, double def, double lo, double hi) {
    const cJSON *v = item(c, key);
    if (!v) return def;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
        fail(c, DL_ERR_FORMAT, key, "is not a number");
        return def;
    }
    if (v->valuedouble < lo || v->valuedouble > hi) {
        char msg[128];
        snprintf(msg, sizeof msg, "= %g is outside the supported range [%g, %g]", v->valuedouble,
                 lo, hi);
        fail(c, DL_ERR_LIMIT, key, msg);
        return def;
    }
    return v->valuedouble;
}

int dl_cfg_int(dl_cfg *c, const char *key, int def, int lo, int hi) {
    const cJSON *v = item(c, key);
    if (v && cJSON_IsNumber(v) && v->valuedouble != floor(v->valuedouble)) {
        fail(c, DL_ERR_FORMAT, key, "is not an integer");
        return def;
    }
    return (int)dl_cfg_num(c, key, def, lo, hi);
}

bool dl_cfg_bool(dl_cfg *c, const char *key, bool def) {
    const cJSON *v = item(c, key);
    if (!v) return def;
    if (!cJSON_IsBool(v)) {
        fail(c, DL_ERR_FORMAT, key, "is not true or false");
        return def;
    }
    return cJSON_IsTrue(v);
}

const char *dl_cfg_str(dl_cfg *c, const char *key, const char *def) {
    const cJSON *v = item(c, key);
    if (!v) return def;
    if (!cJSON_IsString(v)) {
        fail(c, DL_ERR_FORMAT, key, "is not a string");
        return def;
    }
    return v->valuestring;
}

int dl_cfg_ints(dl_cfg *c, const char *key, int *out, int max, int lo, int hi, bool required) {
    const cJSON *v = item(c, key);
    if (!v) {
        if (required) fail(c, DL_ERR_FORMAT, key, "is missing");
        return -1;
    }
    if (!cJSON_IsArray(v)) {
        fail(c, DL_ERR_FORMAT, key, "is not an array");
        return -1;
    }
    int n = cJSON_GetArraySize(v);
    if (n > max || n == 0) {
        fail(c, DL_ERR_LIMIT, key, "has an unsupported number of entries");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(v, i);
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < lo ||
            e->valuedouble > hi) {
            fail(c, DL_ERR_LIMIT, key,
                 "has an entry that is not an integer in the supported range");
            return -1;
        }
        out[i] = (int)e->valuedouble;
    }
    return n;
}

dl_act dl_cfg_act(dl_cfg *c, const char *key, const char *def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->root, key);
    if (v && cJSON_IsNull(v)) return DL_ACT_NONE;
    const char *s = dl_cfg_str(c, key, def);
    if (!s) return DL_ACT_NONE;
    if (strcmp(s, "relu") == 0) return DL_ACT_RELU;
    if (strcmp(s, "silu") == 0 || strcmp(s, "swish") == 0) return DL_ACT_SILU;
    if (strcmp(s, "gelu") == 0) return DL_ACT_GELU;
    if (strcmp(s, "sigmoid") == 0) return DL_ACT_SIGMOID;
    fail(c, DL_ERR_UNSUPPORTED, key, "names an unsupported activation");
    return DL_ACT_NONE;
}
