/* doctor: the models found (installed default models and Docling layout models in the Hugging
 * Face cache). */
#define _GNU_SOURCE
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli/doctor/doctor.h"
#include "cli/util.h"

#ifndef DL_CLI_SOURCE_DIR
#define DL_CLI_SOURCE_DIR ""
#endif

/* "model_type" of DIR/config.json, or NULL. */
static char *model_type_of(const char *dir) {
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s/config.json", dir);
    char *text = dl_cli_read_text(p, 1 << 20);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *t = cJSON_GetObjectItem(j, "model_type");
    char *out = cJSON_IsString(t) ? strdup(t->valuestring) : NULL;
    cJSON_Delete(j);
    return out;
}

static void add_model(cJSON *models, const char *source, const char *name, const char *dir) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "source", source);
    cJSON_AddStringToObject(m, "name", name);
    cJSON_AddStringToObject(m, "path", dir);
    char *type = model_type_of(dir);
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    bool w = dl_cli_is_file(p);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    w = w || dl_cli_is_file(p);
    snprintf(p, sizeof p, "%s/preprocessor_config.json", dir);
    bool complete = type && w && dl_cli_is_file(p);
    cJSON_AddItemToObject(m, "model_type", type ? cJSON_CreateString(type) : cJSON_CreateNull());
    cJSON_AddBoolToObject(m, "complete", complete);
    free(type);
    cJSON_AddItemToArray(models, m);
}

/* Every model directory directly inside `root` (the installed default models). */
static void scan_default_dir(cJSON *models, const char *root) {
    DIR *d = opendir(root);
    if (!d) return;
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s/config.json", root);
    if (dl_cli_is_file(p)) add_model(models, "default", root, root);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char sub[PATH_MAX];
        snprintf(sub, sizeof sub, "%.*s/%.200s", PATH_MAX - 256, root, e->d_name);
        snprintf(p, sizeof p, "%s/config.json", sub);
        if (dl_cli_is_dir(sub) && dl_cli_is_file(p)) add_model(models, "default", e->d_name, sub);
    }
    closedir(d);
}

/* A Docling layout model the library found in a Hugging Face cache (dl_hf_cache_models: the
 * caches dl_model_load searches, in its order, resolved as it resolves a repo id). */
static int add_cached(const dl_cached_model *c, void *user) {
    cJSON *models = user;
    if (c->path) {
        add_model(models, "hf-cache", c->repo_id, c->path);
        return 0;
    }
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "source", "hf-cache");
    cJSON_AddStringToObject(m, "name", c->repo_id);
    cJSON_AddStringToObject(m, "path", c->cache_entry);
    cJSON_AddNullToObject(m, "model_type");
    cJSON_AddBoolToObject(m, "complete", false);
    cJSON_AddStringToObject(m, "error", c->error);
    cJSON_AddItemToArray(models, m);
    return 0;
}

cJSON *doctor_models_report(doctor_run *run) {
    cJSON *models = cJSON_CreateArray();
    char d[PATH_MAX], p[PATH_MAX + 64];
    doctor_exe_dir(d, sizeof d);
    if (d[0]) {
        snprintf(p, sizeof p, "%s/../share/doclayout/models", d);
        char real[PATH_MAX];
        if (realpath(p, real)) scan_default_dir(models, real);
    }
    if (DL_CLI_SOURCE_DIR[0]) {
        snprintf(p, sizeof p, "%s/models", DL_CLI_SOURCE_DIR);
        if (dl_cli_is_dir(p)) scan_default_dir(models, p);
    }
    dl_hf_cache_models("docling-project/docling-layout-", add_cached, models);
    if (cJSON_GetArraySize(models) == 0)
        doctor_problem(run->problems, "models", "warning",
                       "no layout model found (no installed default model, no Docling layout "
                       "model in the Hugging Face cache)",
                       DOCTOR_FIX_NO_MODEL);
    return models;
}

void doctor_models_print(const cJSON *models, FILE *f) {
    fprintf(f, "Models\n");
    const cJSON *m;
    int nm = 0;
    cJSON_ArrayForEach(m, models) {
        nm++;
        const char *type = doctor_opt_str(m, "model_type");
        fprintf(f, "  %-9s  %s: %s%s\n", doctor_str(m, "source"), doctor_str(m, "name"),
                type ? type : "?",
                cJSON_IsTrue(cJSON_GetObjectItem(m, "complete")) ? "" : " (incomplete)");
        fprintf(f, "             %s\n", doctor_str(m, "path"));
    }
    if (!nm) fprintf(f, "  none found\n");
}
