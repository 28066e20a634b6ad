/* dl_model: finding a model directory, reading its config files and weights. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/internal.h"
#include "core/error.h"
#include "image/resize.h"
#include "io/file.h"
#include "io/safetensors.h"
#include "models/config.h"

#define CONFIG_MAX_BYTES ((size_t)16 << 20)

/* models--org--name/snapshots/<rev>: the revision refs/main names, else the newest snapshot. */
static bool snapshot_of(const char *repo_dir, char *out, size_t n) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/refs/main", repo_dir);
    FILE *f = fopen(p, "r");
    if (f) {
        char rev[128] = {0};
        if (fgets(rev, sizeof rev, f)) {
            rev[strcspn(rev, "\r\n")] = '\0';
            snprintf(out, n, "%s/snapshots/%s", repo_dir, rev);
            fclose(f);
            if (rev[0] && !strchr(rev, '/') && dl_is_dir(out)) return true;
        } else {
            fclose(f);
        }
    }
    snprintf(p, sizeof p, "%s/snapshots", repo_dir);
    DIR *d = opendir(p);
    if (!d) return false;
    time_t best = 0;
    bool found = false;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char cand[PATH_MAX + 256];
        snprintf(cand, sizeof cand, "%s/%s", p, e->d_name);
        struct stat st;
        if (stat(cand, &st) == 0 && S_ISDIR(st.st_mode) && (!found || st.st_mtime > best)) {
            best = st.st_mtime;
            snprintf(out, n, "%s", cand);
            found = true;
        }
    }
    closedir(d);
    return found;
}

/* The Hugging Face hub caches searched for repo ids, in order, each once: $HF_HUB_CACHE,
 * $HF_HOME/hub, ~/.cache/huggingface/hub. Returns their count. */
static int hub_caches(char hubs[3][PATH_MAX]) {
    int nh = 0;
    const char *v = getenv("HF_HUB_CACHE");
    if (v && *v) snprintf(hubs[nh++], PATH_MAX, "%.*s", PATH_MAX - 1, v);
    v = getenv("HF_HOME");
    if (v && *v) snprintf(hubs[nh++], PATH_MAX, "%.*s/hub", PATH_MAX - 8, v);
    v = getenv("HOME");
    if (v && *v) snprintf(hubs[nh++], PATH_MAX, "%.*s/.cache/huggingface/hub", PATH_MAX - 32, v);
    int unique = 0;
    for (int i = 0; i < nh; i++) {
        bool seen = false;
        for (int j = 0; j < unique; j++) seen = seen || strcmp(hubs[i], hubs[j]) == 0;
        if (!seen && unique != i) memcpy(hubs[unique], hubs[i], PATH_MAX);
        if (!seen) unique++;
    }
    return unique;
}

void dl_hf_cache_models(const char *prefix, dl_cached_model_fn fn, void *user) {
    if (!fn) return;
    char hubs[3][PATH_MAX];
    int nh = hub_caches(hubs);
    size_t plen = prefix ? strlen(prefix) : 0;
    static const char models[] = "models--";
    for (int i = 0; i < nh; i++) {
        DIR *d = opendir(hubs[i]);
        if (!d) continue;
        struct dirent *e;
        int stop = 0;
        while (!stop && (e = readdir(d))) {
            /* models--org--name is the repo org/name */
            if (strncmp(e->d_name, models, sizeof models - 1) != 0) continue;
            const char *org = e->d_name + sizeof models - 1, *sep = strstr(org, "--");
            if (!sep || sep == org || !sep[2]) continue;
            char repo[512], entry[PATH_MAX * 2], snap[PATH_MAX];
            snprintf(repo, sizeof repo, "%.*s/%.250s", (int)(sep - org), org, sep + 2);
            if (plen && strncmp(repo, prefix, plen) != 0) continue;
            snprintf(entry, sizeof entry, "%.4000s/%.255s", hubs[i], e->d_name);
            bool ok = dl_is_dir(entry) && snapshot_of(entry, snap, sizeof snap);
            dl_cached_model m = {.repo_id = repo,
                                 .cache_entry = entry,
                                 .path = ok ? snap : NULL,
                                 .error = ok ? NULL
                                             : "no snapshot: refs/main names none that "
                                               "exists and snapshots/ is empty"};
            stop = fn(&m, user);
        }
        closedir(d);
        if (stop) break;
    }
}

dl_status dl_model_resolve_path(const char *path, char *out, size_t n, dl_error *err) {
    if (!path || !*path) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "no model path given");
    char p[PATH_MAX];
    if (dl_is_dir(path)) {
        snprintf(p, sizeof p, "%s/config.json", path);
        if (dl_is_file(p)) {
            snprintf(out, n, "%s", path);
            return DL_OK;
        }
        /* a cache entry models--org--name itself */
        if (snapshot_of(path, out, n)) return DL_OK;
        return dl_fail(err, DL_ERR_IO, "%s: no config.json in this directory", path);
    }
    /* a repo id "org/name": look in the Hugging Face cache, offline */
    const char *slash = strchr(path, '/');
    if (slash && !strchr(slash + 1, '/') && path[0] != '.' && slash != path) {
        char hubs[3][PATH_MAX];
        int nh = hub_caches(hubs);
        for (int i = 0; i < nh; i++) {
            char dir[PATH_MAX * 2];
            snprintf(dir, sizeof dir, "%.4000s/models--%.*s--%.2000s", hubs[i], (int)(slash - path),
                     path, slash + 1);
            if (dl_is_dir(dir) && snapshot_of(dir, out, n)) return DL_OK;
        }
        return dl_fail(err, DL_ERR_IO,
                       "%s: not a directory, and not found in the Hugging Face cache "
                       "($HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub); download it "
                       "with `huggingface-cli download %s` on a machine with network access",
                       path, path);
    }
    return dl_fail(err, DL_ERR_IO, "%s: no such model directory", path);
}

static dl_status read_json(const char *dir, const char *name, cJSON **out, dl_error *err) {
    char p[PATH_MAX * 2];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    void *buf;
    size_t size;
    dl_status s = dl_read_file(p, CONFIG_MAX_BYTES, &buf, &size, err);
    if (s != DL_OK) return s;
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(buf, size, &end, 0);
    if (!*out) {
        long at = end ? (long)(end - (const char *)buf) : -1;
        free(buf);
        return dl_fail(err, DL_ERR_FORMAT, "%s: invalid JSON near byte %ld", p, at);
    }
    free(buf);
    if (!cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return dl_fail(err, DL_ERR_FORMAT, "%s: not a JSON object", p);
    }
    return DL_OK;
}

static dl_status parse_preprocessor(const cJSON *root, dl_preprocess *pp, dl_error *err) {
    dl_cfg c = {.root = root, .file = "preprocessor_config.json", .err = err, .status = DL_OK};
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(root, "size");
    pp->width = pp->height = 640;
    if (cJSON_IsObject(size)) {
        dl_cfg s = {
            .root = size, .file = "preprocessor_config.json: size", .err = err, .status = DL_OK};
        if (cJSON_GetObjectItemCaseSensitive(size, "shortest_edge") ||
            cJSON_GetObjectItemCaseSensitive(size, "longest_edge"))
            return dl_fail(err, DL_ERR_UNSUPPORTED,
                           "preprocessor_config.json: size by shortest/longest edge is not "
                           "supported (Docling's models use a fixed height and width)");
        pp->height = dl_cfg_int(&s, "height", 640, 32, 4096);
        pp->width = dl_cfg_int(&s, "width", 640, 32, 4096);
        if (s.status != DL_OK) return s.status;
    }
    pp->do_resize = dl_cfg_bool(&c, "do_resize", true);
    pp->do_rescale = dl_cfg_bool(&c, "do_rescale", true);
    pp->do_normalize = dl_cfg_bool(&c, "do_normalize", false);
    pp->rescale_factor = (float)dl_cfg_num(&c, "rescale_factor", 1.0 / 255.0, 0, 1e6);
    int resample = dl_cfg_int(&c, "resample", 2, 0, 5);
    if (c.status != DL_OK) return c.status;
    if (resample != 2)
        return dl_fail(err, DL_ERR_UNSUPPORTED,
                       "preprocessor_config.json: resample %d (only "
                       "2 = bilinear is supported)",
                       resample);
    const float mean_def[3] = {0.485f, 0.456f, 0.406f}, std_def[3] = {0.229f, 0.224f, 0.225f};
    const char *keys[2] = {"image_mean", "image_std"};
    float *dst[2] = {pp->mean, pp->std};
    const float *defs[2] = {mean_def, std_def};
    for (int k = 0; k < 2; k++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, keys[k]);
        for (int i = 0; i < 3; i++) dst[k][i] = defs[k][i];
        if (cJSON_IsArray(a) && cJSON_GetArraySize(a) == 3) {
            for (int i = 0; i < 3; i++) {
                const cJSON *e = cJSON_GetArrayItem(a, i);
                if (!cJSON_IsNumber(e) || (k == 1 && e->valuedouble == 0))
                    return dl_fail(err, DL_ERR_FORMAT, "preprocessor_config.json: bad %s", keys[k]);
                dst[k][i] = (float)e->valuedouble;
            }
        }
    }
    if (!pp->do_resize)
        return dl_fail(err, DL_ERR_UNSUPPORTED,
                       "preprocessor_config.json: do_resize false is not supported");
    return DL_OK;
}

static dl_status parse_labels(dl_model *m, const cJSON *cfg, dl_error *err) {
    m->label_names = calloc((size_t)m->num_labels, sizeof *m->label_names);
    m->docling_label = calloc((size_t)m->num_labels, sizeof *m->docling_label);
    if (!m->label_names || !m->docling_label)
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    const cJSON *id2label = cJSON_GetObjectItemCaseSensitive(cfg, "id2label");
    for (int i = 0; i < m->num_labels; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", i);
        const cJSON *v =
            cJSON_IsObject(id2label) ? cJSON_GetObjectItemCaseSensitive(id2label, key) : NULL;
        if (cJSON_IsObject(id2label) && !cJSON_IsString(v))
            return dl_fail(err, DL_ERR_FORMAT, "config.json: id2label has no string for id %d", i);
        const char *name = v ? v->valuestring : NULL;
        int dl = dl_docling_label_from_string(name);
        m->docling_label[i] = dl;
        char fallback[32];
        snprintf(fallback, sizeof fallback, "LABEL_%d", i);
        const char *shown = dl >= 0 ? dl_docling_label_name(dl) : (name ? name : fallback);
        m->label_names[i] = strdup(shown);
        if (!m->label_names[i]) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    }
    return DL_OK;
}

/* Shared by the file and enumerate paths: config -> architecture -> built network. */
static dl_status build_model(dl_model *m, const cJSON *cfg, dl_weights *w, dl_error *err) {
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    if (!cJSON_IsString(mt))
        return dl_fail(err, DL_ERR_FORMAT, "config.json: \"model_type\" is missing");
    m->model_type = strdup(mt->valuestring);
    if (!m->model_type) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    const dl_arch *arch = dl_arch_find(mt->valuestring, err);
    if (!arch) return DL_ERR_UNSUPPORTED;
    void *config = calloc(1, arch->config_size);
    if (!config) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    dl_arch_dims dims = {0};
    dl_status s = arch->parse_config(cfg, m->pre.height, m->pre.width, config, &dims, err);
    if (s == DL_OK) {
        m->num_labels = dims.num_labels;
        m->num_queries = dims.num_queries;
        m->max_detections = dims.max_detections ? dims.max_detections : dims.num_queries;
        m->nms_threshold = dims.nms_threshold;
        s = parse_labels(m, cfg, err);
    }
    if (s == DL_OK) {
        s = arch->build(config, w, &m->net);
        if (m->net) m->arch = arch; /* from here dl_model_free frees the network */
    }
    free(config);
    if (s != DL_OK) return s;
    const char *note = arch->warning ? arch->warning(m->net) : NULL;
    snprintf(m->warning, sizeof m->warning, "%s", note ? note : "");
    m->num_parameters = w->n_params;
    return DL_OK;
}

void dl_model_free(dl_model *m) {
    if (!m) return;
    if (m->arch) m->arch->free(m->net);
    for (int i = 0; m->label_names && i < m->num_labels; i++) free(m->label_names[i]);
    free(m->label_names);
    free(m->docling_label);
    free(m->model_type);
    free(m->path);
    dl_resize_cache_free(m->plans);
    free(m);
}

dl_status dl_model_load(const char *path, const dl_model_options *options, dl_model **out,
                        dl_error *err) {
    (void)options;
    if (!out) return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "dl_model_load: out is NULL");
    *out = NULL;
    char dir[PATH_MAX];
    dl_status s = dl_model_resolve_path(path, dir, sizeof dir, err);
    if (s != DL_OK) return s;
    dl_model *m = calloc(1, sizeof *m);
    if (!m) return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    m->path = strdup(dir);
    cJSON *cfg = NULL, *pre = NULL;
    dl_safetensors *st = NULL;
    dl_weights w;
    bool weights_init = false;
    if (!m->path) {
        s = dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    if ((s = read_json(dir, "config.json", &cfg, err)) != DL_OK) goto done;
    if ((s = read_json(dir, "preprocessor_config.json", &pre, err)) != DL_OK) goto done;
    if ((s = parse_preprocessor(pre, &m->pre, err)) != DL_OK) goto done;
    if ((s = dl_resize_cache_create(m->pre.width, m->pre.height, &m->plans, err)) != DL_OK)
        goto done;
    char wp[PATH_MAX * 2];
    snprintf(wp, sizeof wp, "%s/model.safetensors", dir);
    if (!dl_is_file(wp)) snprintf(wp, sizeof wp, "%s/model.safetensors.index.json", dir);
    if (!dl_is_file(wp)) {
        s = dl_fail(err, DL_ERR_IO,
                    "%s: neither model.safetensors nor "
                    "model.safetensors.index.json exists",
                    dir);
        goto done;
    }
    if ((s = dl_safetensors_open(wp, &st, err)) != DL_OK) goto done;
    m->file_bytes = dl_safetensors_file_bytes(st);
    dl_weights_init_file(&w, st, err);
    weights_init = true;
    if ((s = build_model(m, cfg, &w, err)) != DL_OK) goto done;
    if ((s = dl_weights_check_unused(&w)) != DL_OK) goto done;
done:
    if (weights_init) dl_weights_release(&w);
    dl_safetensors_close(st);
    cJSON_Delete(cfg);
    cJSON_Delete(pre);
    if (s != DL_OK) {
        dl_model_free(m);
        return s;
    }
    *out = m;
    return DL_OK;
}

void dl_weight_records_free(dl_weight_record *r, size_t n) {
    for (size_t i = 0; i < n; i++) free(r[i].name);
    free(r);
}

dl_status dl_model_build_enumerated(const char *config_path, unsigned seed, dl_model **out,
                                    dl_weight_record **records, size_t *n_records, dl_error *err) {
    *out = NULL;
    void *buf;
    size_t size;
    dl_status s = dl_read_file(config_path, CONFIG_MAX_BYTES, &buf, &size, err);
    if (s != DL_OK) return s;
    cJSON *cfg = cJSON_ParseWithLength(buf, size);
    free(buf);
    if (!cJSON_IsObject(cfg)) {
        cJSON_Delete(cfg);
        return dl_fail(err, DL_ERR_FORMAT, "%s: invalid JSON", config_path);
    }
    dl_model *m = calloc(1, sizeof *m);
    if (!m) {
        cJSON_Delete(cfg);
        return dl_fail(err, DL_ERR_OUT_OF_MEMORY, "out of memory");
    }
    m->pre = (dl_preprocess){.width = 640,
                             .height = 640,
                             .do_resize = true,
                             .do_rescale = true,
                             .rescale_factor = 1.0f / 255.0f};
    dl_weights w;
    dl_weights_init_enumerate(&w, seed, err);
    s = dl_resize_cache_create(m->pre.width, m->pre.height, &m->plans, err);
    if (s == DL_OK) s = build_model(m, cfg, &w, err);
    m->path = strdup(config_path);
    if (s == DL_OK && records) {
        *records = w.records;
        *n_records = w.n_records;
        w.records = NULL;
        w.n_records = 0;
    }
    dl_weights_release(&w);
    cJSON_Delete(cfg);
    if (s != DL_OK) {
        dl_model_free(m);
        return s;
    }
    *out = m;
    return DL_OK;
}

const char *dl_model_type(const dl_model *m) { return m ? m->model_type : NULL; }
const char *dl_model_path(const dl_model *m) { return m ? m->path : NULL; }
int dl_model_input_width(const dl_model *m) { return m ? m->pre.width : 0; }
int dl_model_input_height(const dl_model *m) { return m ? m->pre.height : 0; }
int dl_model_num_labels(const dl_model *m) { return m ? m->num_labels : 0; }
int dl_model_num_queries(const dl_model *m) { return m ? m->num_queries : 0; }
size_t dl_model_num_parameters(const dl_model *m) { return m ? m->num_parameters : 0; }
const char *dl_model_warning(const dl_model *m) { return m ? m->warning : ""; }

const char *dl_model_label_name(const dl_model *m, int id) {
    if (!m || id < 0 || id >= m->num_labels) return NULL;
    return m->label_names[id];
}

int dl_model_docling_label(const dl_model *m, int id) {
    if (!m || id < 0 || id >= m->num_labels) return -1;
    return m->docling_label[id];
}

size_t dl_model_weight_allocs(const dl_model *m, void *const **ptrs, const size_t **floats) {
    *ptrs = NULL;
    *floats = NULL;
    return m->arch->weight_allocs ? m->arch->weight_allocs(m->net, ptrs, floats) : 0;
}

dl_status dl_model_forward_one(const dl_model *m, dl_exec *ex, int h, int w, const float *pixels,
                               float *logits, float *boxes, dl_error *err) {
    if (m->arch->fixed_input_size && (h != m->pre.height || w != m->pre.width))
        return dl_fail(err, DL_ERR_INVALID_ARGUMENT, "%s: input must be %dx%d", m->model_type,
                       m->pre.width, m->pre.height);
    dl_arena_reset(&ex->arena);
    dl_status s = m->arch->forward(m->net, ex, h, w, pixels, logits, boxes, err);
    /* the first pass sizes the activation region here, so later passes allocate nothing */
    dl_arena_reset(&ex->arena);
    return s;
}
