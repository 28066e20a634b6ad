/* Typed, range-checked reads of config.json fields (cJSON underneath). */
#ifndef DL_MODELS_CONFIG_H
#define DL_MODELS_CONFIG_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "doclayout.h"
#include "ops/ops.h"

typedef struct dl_cfg {
    const cJSON *root;
    const char *file; /* for messages: "config.json" or "config.json: backbone_config" */
    dl_error *err;
    dl_status status; /* first failure */
} dl_cfg;

/* Missing key -> default; wrong type or outside [lo, hi] -> error. */
int dl_cfg_int(dl_cfg *c, const char *key, int def, int lo, int hi);
double dl_cfg_num(dl_cfg *c, const char *key, double def, double lo, double hi);
bool dl_cfg_bool(dl_cfg *c, const char *key, bool def);
/* String (or def); NULL-safe. */
const char *dl_cfg_str(dl_cfg *c, const char *key, const char *def);
/* Array of ints; returns the count (<= max), or -1 when missing and `required`. Checks range. */
int dl_cfg_ints(dl_cfg *c, const char *key, int *out, int max, int lo, int hi, bool required);
/* Activation name ("relu", "silu", "gelu", null -> none) */
dl_act dl_cfg_act(dl_cfg *c, const char *key, const char *def);

#endif
