/*
 * The routes of doclayout serve's docling-serve v1 API (docs/server.md): requests read here
 * (multipart forms with libmicrohttpd's post processor, JSON with cJSON, base64), options
 * mapped to the document pipeline's, tasks handed to tasks.c, docling-serve's response shapes
 * written back. Errors are docling-serve's {"detail": "..."}, naming what is wrong.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/docling.h"

#define MAX_DOCS 64

/* The page (src/server/web/index.html), embedded at build time (cmake/EmbedFile.cmake). */
extern const unsigned char srv_web_index_html[];
extern const size_t srv_web_index_html_len;

bool srv_docling_owns(const char *url) {
    return strcmp(url, "/") == 0 || strcmp(url, "/health") == 0 || strcmp(url, "/ready") == 0 ||
           strcmp(url, "/version") == 0 || strncmp(url, "/v1/", 4) == 0;
}

bool srv_docling_is_health(const char *url) {
    return strcmp(url, "/health") == 0 || strcmp(url, "/ready") == 0 || strcmp(url, "/") == 0;
}

/* ---- replies ------------------------------------------------------------------------------ */

static srv_code code_of(int status) {
    switch (status) {
    case 200: return SRV_OK;
    case 401: return SRV_UNAUTHORIZED;
    case 404: return SRV_NOT_FOUND;
    case 413: return SRV_TOO_LARGE;
    case 429: return SRV_OVERLOADED;
    case 503: return SRV_UNAVAILABLE;
    case 504: return SRV_DEADLINE;
    default: return status >= 500 ? SRV_INTERNAL : SRV_BAD_REQUEST;
    }
}

static void set_body(srv_reply *r, int status, char *body, size_t len) {
    r->status = status;
    r->code = code_of(status);
    r->ctype = "application/json";
    r->body = body;
    r->len = len;
}

/* A task's result as docling-serve answers it: JSON, or converted_docs.zip. */
static void result_reply(srv_reply *r, int status, char *body, size_t len, bool is_zip) {
    set_body(r, status, body, len);
    if (is_zip) {
        r->ctype = "application/zip";
        r->disposition = "attachment; filename=\"converted_docs.zip\"";
    }
}

static void json_reply(srv_reply *r, int status, cJSON *j) {
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    set_body(r, text ? status : 500, text, text ? strlen(text) : 0);
}

/* docling-serve's (FastAPI's) error shape. */
static void detail(srv_reply *r, int status, const char *msg) {
    char safe[512];
    srv_sanitize(safe, sizeof safe, msg, strlen(msg));
    snprintf(r->error, sizeof r->error, "%s", safe);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "detail", safe);
    json_reply(r, status, j);
}

/* ---- options ------------------------------------------------------------------------------ */

/* docling-serve options that change nothing here, whatever their value. */
static const char *const ignored_options[] = {"from_formats",
                                              "image_export_mode",
                                              "include_images",
                                              "pdf_backend",
                                              "table_mode",
                                              "table_cell_matching",
                                              "ocr_engine",
                                              "ocr_lang",
                                              "md_page_break_placeholder",
                                              "return_as_file",
                                              "pipeline",
                                              "picture_description_area_threshold",
                                              "images_scale_factor",
                                              NULL};
/* Options that ask for work this server does not do: refused when true. */
static const char *const refused_when_true[] = {"force_ocr",
                                                "do_code_enrichment",
                                                "do_formula_enrichment",
                                                "do_picture_classification",
                                                "do_picture_description",
                                                "generate_picture_images",
                                                "do_chart_extraction",
                                                NULL};

static bool in_list(const char *const *list, const char *key) {
    for (int i = 0; list[i]; i++)
        if (strcmp(list[i], key) == 0) return true;
    return false;
}

static bool want_bool(const cJSON *v, const char *key, bool *out, char *msg, size_t size) {
    if (!cJSON_IsBool(v)) {
        snprintf(msg, size, "option '%s' expects true or false", key);
        return false;
    }
    *out = cJSON_IsTrue(v);
    return true;
}

static bool want_number(const cJSON *v, const char *key, double lo, double hi, double *out,
                        char *msg, size_t size) {
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi) {
        snprintf(msg, size, "option '%s' expects a number in [%g, %g]", key, lo, hi);
        return false;
    }
    *out = v->valuedouble;
    return true;
}

static int find_layout_model(srv_server *s, const char *name) {
    for (int i = 0; i < s->n_models; i++)
        if (strcmp(s->models[i].name, name) == 0) return i;
    /* Docling's preset names (layout_heron_default, docling_layout_egret_medium, ...): the
     * served model of that family */
    const char *families[] = {"heron", "egret", NULL};
    for (int f = 0; families[f]; f++) {
        if (!strstr(name, families[f])) continue;
        for (int i = 0; i < s->n_models; i++)
            if (strstr(s->models[i].name, families[f])) return i;
    }
    return -1;
}

static bool add_format(srv_doc_options *o, const cJSON *v, char *msg, size_t size) {
    if (!cJSON_IsString(v)) {
        snprintf(msg, size, "to_formats expects strings");
        return false;
    }
    const char *f = v->valuestring;
    if (strcmp(f, "md") == 0) o->formats |= SRV_FMT_MD;
    else if (strcmp(f, "json") == 0) o->formats |= SRV_FMT_JSON;
    else if (strcmp(f, "text") == 0) o->formats |= SRV_FMT_TEXT;
    else if (strcmp(f, "doclayout_json") == 0) o->formats |= SRV_FMT_DOCLAYOUT;
    else {
        char safe[64];
        srv_sanitize(safe, sizeof safe, f, strlen(f));
        snprintf(msg, size,
                 "to_formats: '%s' is not made by this server (it makes md, json, text, "
                 "doclayout_json)",
                 safe);
        return false;
    }
    return true;
}

bool srv_docling_parse_options(srv_server *s, const cJSON *opts, srv_doc_options *o, char *msg,
                               size_t size) {
    memset(o, 0, sizeof *o);
    o->formats = SRV_FMT_MD; /* docling-serve's default */
    if (opts && !cJSON_IsObject(opts)) {
        snprintf(msg, size, "options must be an object");
        return false;
    }
    bool have_formats = false, have_dpi = false;
    double scale = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, opts) {
        const char *key = v->string;
        char k[64];
        srv_sanitize(k, sizeof k, key, strlen(key));
        bool b;
        double d;
        if (strcmp(key, "to_formats") == 0) {
            if (!have_formats) o->formats = 0;
            have_formats = true;
            if (cJSON_IsArray(v)) {
                const cJSON *e;
                cJSON_ArrayForEach(e, v) if (!add_format(o, e, msg, size)) return false;
            } else if (!add_format(o, v, msg, size)) {
                return false;
            }
            if (!o->formats) {
                snprintf(msg, size, "to_formats is empty");
                return false;
            }
        } else if (strcmp(key, "page_range") == 0) {
            const cJSON *a = cJSON_GetArrayItem(v, 0), *z = cJSON_GetArrayItem(v, 1);
            if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 || !cJSON_IsNumber(a) ||
                !cJSON_IsNumber(z) || a->valuedouble < 1 || z->valuedouble < a->valuedouble ||
                a->valuedouble != floor(a->valuedouble) || a->valuedouble > 1e9) {
                snprintf(msg, size, "page_range expects [first, last], 1 <= first <= last");
                return false;
            }
            if (z->valuedouble >= 1e9)
                snprintf(o->pages, sizeof o->pages, "%d-", (int)a->valuedouble);
            else
                snprintf(o->pages, sizeof o->pages, "%d-%d", (int)a->valuedouble,
                         (int)z->valuedouble);
        } else if (strcmp(key, "images_scale") == 0) {
            if (!want_number(v, key, 0.05, 20, &scale, msg, size)) return false;
        } else if (strcmp(key, "dpi") == 0) {
            if (!want_number(v, key, 1, 1200, &o->dpi, msg, size)) return false;
            have_dpi = true;
        } else if (strcmp(key, "layout_preset") == 0 || strcmp(key, "layout_model") == 0) {
            if (!cJSON_IsString(v)) {
                snprintf(msg, size, "option '%s' expects a model name", k);
                return false;
            }
            o->model = find_layout_model(s, v->valuestring);
            if (o->model < 0) {
                char name[100], served[300] = "";
                srv_sanitize(name, sizeof name, v->valuestring, strlen(v->valuestring));
                for (int i = 0; i < s->n_models; i++) {
                    size_t l = strlen(served);
                    snprintf(served + l, sizeof served - l, "%s%s", i ? ", " : "",
                             s->models[i].name);
                }
                snprintf(msg, size, "%s: layout model '%s' is not served here (served: %s)", k,
                         name, served);
                return false;
            }
        } else if (strcmp(key, "abort_on_error") == 0) {
            if (!want_bool(v, key, &o->abort_on_error, msg, size)) return false;
        } else if (strcmp(key, "document_timeout") == 0) {
            if (!want_number(v, key, 0.001, 86400 * 7, &d, msg, size)) return false;
            o->timeout_ms = (int64_t)(d * 1000);
        } else if (strcmp(key, "do_ocr") == 0 || strcmp(key, "do_table_structure") == 0) {
            if (!want_bool(v, key, &b, msg, size)) return false;
            if (b && o->n_warnings < 2)
                snprintf(o->warnings[o->n_warnings++], sizeof o->warnings[0], "%s",
                         key[3] == 'o' ? "do_ocr: OCR was not done (this server reads the PDF's "
                                         "own text layer; scanned pages have no text)"
                                       : "do_table_structure: table structure was not "
                                         "recognised (tables come as layout regions)");
        } else if (in_list(refused_when_true, key)) {
            if (!want_bool(v, key, &b, msg, size)) return false;
            if (b) {
                snprintf(msg, size, "option '%s' = true is not supported by this server", k);
                return false;
            }
        } else if (!in_list(ignored_options, key)) {
            snprintf(msg, size, "unknown option '%s'", k);
            return false;
        }
    }
    if (scale > 0 && !have_dpi) o->dpi = 72.0 * scale;
    dl_pipeline_options po = dl_pipeline_default_options();
    if (o->pages[0]) po.pages = o->pages;
    if (o->dpi > 0) po.dpi = o->dpi;
    dl_error err;
    if (dl_pipeline_check_options(&po, &err) != DL_OK) {
        snprintf(msg, size, "%s", err.message);
        return false;
    }
    return true;
}

/* ---- request bodies ---------------------------------------------------------------------- */

static void clean_filename(char *dst, size_t size, const char *name, size_t len) {
    char tmp[256];
    srv_sanitize(tmp, sizeof tmp, name ? name : "", name ? len : 0);
    const char *base = tmp;
    for (const char *p = tmp; *p; p++)
        if (*p == '/' || *p == '\\') base = p + 1;
    snprintf(dst, size, "%s", *base ? base : "file.pdf");
    if (dst[0] == '.') dst[0] = '_';
}

/* Standard base64 (padding optional, whitespace skipped; a data: URL's prefix is skipped).
 * Returns the decoded size, or -1 with msg set. */
static long long base64_decode(const char *in, size_t len, unsigned char *out, const char *what,
                               char *msg, size_t size) {
    if (len > 5 && strncmp(in, "data:", 5) == 0) {
        const char *comma = memchr(in, ',', len);
        if (comma) {
            len -= (size_t)(comma + 1 - in);
            in = comma + 1;
        }
    }
    unsigned acc = 0;
    int bits = 0, pad = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        int v;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '+' || c == '-') v = 62;
        else if (c == '/' || c == '_') v = 63;
        else if (c == '=') {
            pad++;
            continue;
        } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            continue;
        } else {
            snprintf(msg, size, "%s is not valid base64 (byte 0x%02x at offset %zu)", what, c, i);
            return -1;
        }
        if (pad) {
            snprintf(msg, size, "%s is not valid base64 (data after '=' padding at offset %zu)",
                     what, i);
            return -1;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (bits >= 6 || pad > 2) {
        snprintf(msg, size, "%s is not valid base64 (its length is not a whole number of bytes)",
                 what);
        return -1;
    }
    return (long long)o;
}

typedef struct form_value {
    char key[64];
    char *data;
    size_t n;
} form_value;

typedef struct form {
    srv_doc_input docs[MAX_DOCS];
    char *bufs[MAX_DOCS];
    size_t caps[MAX_DOCS];
    int n_docs;
    form_value values[64];
    int n_values;
    char err[300];
} form;

static bool grow(char **p, size_t *cap, size_t need) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    char *q = realloc(*p, c);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

static enum MHD_Result form_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *filename, const char *content_type,
                                  const char *transfer_encoding, const char *data, uint64_t off,
                                  size_t size) {
    form *f = cls;
    (void)kind;
    (void)content_type;
    (void)transfer_encoding;
    if (!key) return MHD_YES;
    if (strcmp(key, "files") == 0) {
        if (off == 0) {
            if (f->n_docs == MAX_DOCS) {
                snprintf(f->err, sizeof f->err, "more than %d files in one request", MAX_DOCS);
                return MHD_NO;
            }
            int i = f->n_docs++;
            clean_filename(f->docs[i].filename, sizeof f->docs[i].filename, filename,
                           filename ? strlen(filename) : 0);
        }
        int i = f->n_docs - 1;
        if (i < 0) return MHD_NO;
        if (!grow(&f->bufs[i], &f->caps[i], f->docs[i].size + size + 1)) {
            snprintf(f->err, sizeof f->err, "out of memory");
            return MHD_NO;
        }
        memcpy(f->bufs[i] + f->docs[i].size, data, size);
        f->docs[i].size += size;
        f->docs[i].data = f->bufs[i];
        return MHD_YES;
    }
    form_value *fv = NULL;
    if (off == 0) {
        if (f->n_values == 64) {
            snprintf(f->err, sizeof f->err, "more than 64 form fields");
            return MHD_NO;
        }
        fv = &f->values[f->n_values++];
        snprintf(fv->key, sizeof fv->key, "%s", key);
    } else {
        if (!f->n_values) return MHD_NO;
        fv = &f->values[f->n_values - 1];
    }
    size_t cap = fv->n + 1;
    if (fv->n + size + 1 > 65536) {
        snprintf(f->err, sizeof f->err, "form field '%.60s' is longer than 64 KiB", fv->key);
        return MHD_NO;
    }
    char *p = realloc(fv->data, fv->n + size + 1);
    (void)cap;
    if (!p) return MHD_NO;
    fv->data = p;
    memcpy(p + fv->n, data, size);
    fv->n += size;
    p[fv->n] = '\0';
    return MHD_YES;
}

static void form_free(form *f) {
    for (int i = 0; i < MAX_DOCS; i++) free(f->bufs[i]);
    for (int i = 0; i < f->n_values; i++) free(f->values[i].data);
}

/* A form value as JSON: lists for the list options, true/false, numbers, else a string. */
static cJSON *form_options(const form *f) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < f->n_values; i++) {
        const form_value *fv = &f->values[i];
        if (strcmp(fv->key, "target_type") == 0) continue; /* not an option: convert_file */
        const char *val = fv->data ? fv->data : "";
        cJSON *item;
        char *end;
        double d = strtod(val, &end);
        if (strcmp(val, "true") == 0 || strcmp(val, "True") == 0) item = cJSON_CreateTrue();
        else if (strcmp(val, "false") == 0 || strcmp(val, "False") == 0) item = cJSON_CreateFalse();
        else if (*val && !*end) item = cJSON_CreateNumber(d);
        else item = cJSON_CreateString(val);
        bool list = strcmp(fv->key, "to_formats") == 0 || strcmp(fv->key, "page_range") == 0 ||
                    strcmp(fv->key, "from_formats") == 0 || strcmp(fv->key, "ocr_lang") == 0;
        if (list) {
            cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, fv->key);
            if (!arr) {
                arr = cJSON_CreateArray();
                cJSON_AddItemToObject(o, fv->key, arr);
            }
            cJSON_AddItemToArray(arr, item);
        } else {
            cJSON_DeleteItemFromObjectCaseSensitive(o, fv->key);
            cJSON_AddItemToObject(o, fv->key, item);
        }
    }
    return o;
}

/* ---- conversion --------------------------------------------------------------------------- */

static void convert(srv_server *s, const srv_doc_input *docs, int n_docs, const cJSON *opts,
                    bool zip, bool async, int64_t start_ms, srv_reply *r) {
    char msg[600];
    if (n_docs == 0) {
        detail(r, 400, "no document in the request (multipart field 'files', or 'sources')");
        return;
    }
    if ((n_docs > 1 || zip) && !srv_zip_available()) {
        detail(r, 400,
               "several documents in one request (or target zip) are answered with a zip, "
               "and this build of doclayout has no libzip: send one document per request");
        return;
    }
    for (int i = 0; i < n_docs; i++)
        if (docs[i].size == 0) {
            snprintf(msg, sizeof msg, "document '%s' is empty", docs[i].filename);
            detail(r, 400, msg);
            return;
        }
    srv_doc_options o;
    if (!srv_docling_parse_options(s, opts, &o, msg, sizeof msg)) {
        detail(r, 400, msg);
        return;
    }
    o.zip = zip;
    int status = 0;
    srv_task *t =
        srv_task_submit(s->tasks, docs, n_docs, &o, opts, async, &status, msg, sizeof msg);
    if (!t) {
        detail(r, status, msg);
        return;
    }
    if (async) {
        json_reply(r, 200, srv_task_status_json(s->tasks, t));
        srv_task_release(s->tasks, t);
        return;
    }
    int64_t deadline = start_ms + s->cfg.convert_timeout_ms;
    srv_task_state st = srv_task_wait(s->tasks, t, deadline);
    bool unfinished = st == SRV_TASK_PENDING || st == SRV_TASK_STARTED;
    if (st == SRV_TASK_CANCELLED || (unfinished && srv_now_ms() < deadline)) {
        /* the wait ended before the deadline: the server is stopping (SIGTERM) */
        srv_task_cancel(s->tasks, t);
        srv_task_wait(s->tasks, t, srv_now_ms() + 60000);
        srv_task_discard(s->tasks, t);
        srv_task_release(s->tasks, t);
        detail(r, 503, "the server is shutting down; the conversion was not done: send it again");
        return;
    }
    if (unfinished) {
        srv_task_cancel(s->tasks, t);
        srv_task_wait(s->tasks, t, srv_now_ms() + 60000); /* the pipeline stops between pages */
        srv_task_discard(s->tasks, t);
        srv_task_release(s->tasks, t);
        snprintf(msg, sizeof msg,
                 "the conversion did not finish within %d ms (--convert-timeout-ms) and was "
                 "cancelled; use /v1/convert/file/async for long documents",
                 s->cfg.convert_timeout_ms);
        detail(r, 504, msg);
        return;
    }
    size_t len = 0;
    int http = 200;
    bool is_zip = false;
    char *body = srv_task_result(s->tasks, t, &len, &http, &is_zip);
    srv_task_discard(s->tasks, t);
    srv_task_release(s->tasks, t);
    if (!body) {
        detail(r, 500, "the result is missing");
        return;
    }
    result_reply(r, http, body, len, is_zip);
    if (http != 200) snprintf(r->error, sizeof r->error, "%.500s", body);
}

static void convert_file(srv_server *s, struct MHD_Connection *c, const char *body, size_t len,
                         bool async, srv_reply *r) {
    int64_t start = srv_now_ms();
    form *f = calloc(1, sizeof *f);
    if (!f) {
        detail(r, 500, "out of memory");
        return;
    }
    struct MHD_PostProcessor *pp = MHD_create_post_processor(c, 65536, form_field, f);
    if (!pp) {
        free(f);
        detail(r, 400,
               "/v1/convert/file expects a multipart/form-data body (Content-Type with a "
               "boundary) with the document in field 'files'");
        return;
    }
    bool ok = len == 0 || MHD_post_process(pp, body, len) == MHD_YES;
    ok = MHD_destroy_post_processor(pp) == MHD_YES && ok;
    if (!ok || f->err[0]) {
        char msg[400];
        snprintf(msg, sizeof msg, "the multipart/form-data body is malformed%s%s",
                 f->err[0] ? ": " : " (a part or the closing boundary is missing or broken)",
                 f->err);
        form_free(f);
        free(f);
        detail(r, 400, msg);
        return;
    }
    /* docling-serve's form field target_type: inbody (the default) or zip */
    bool zip = false;
    for (int i = 0; i < f->n_values; i++) {
        if (strcmp(f->values[i].key, "target_type") != 0) continue;
        const char *v = f->values[i].data ? f->values[i].data : "";
        if (strcmp(v, "zip") == 0) zip = true;
        else if (strcmp(v, "inbody") != 0) {
            char safe[64], msg[200];
            srv_sanitize(safe, sizeof safe, v, strlen(v));
            snprintf(msg, sizeof msg,
                     "target_type '%s' is not made by this server (it makes inbody and zip)", safe);
            form_free(f);
            free(f);
            detail(r, 400, msg);
            return;
        }
    }
    cJSON *opts = form_options(f);
    if (f->n_docs == 0)
        detail(r, 400, "no document in the request: send it in the multipart field 'files'");
    else convert(s, f->docs, f->n_docs, opts, zip, async, start, r);
    cJSON_Delete(opts);
    form_free(f);
    free(f);
}

/* /v1/convert/source[/async], and /v1/convert/source/batch (`batch`: docling-serve's
 * BatchConvertSourcesRequest: sources of kind http (s3 there), always a task, here always
 * answered with a zip) */
static void convert_source(srv_server *s, const char *body, size_t len, bool async, bool batch,
                           srv_reply *r) {
    int64_t start = srv_now_ms();
    char msg[600];
    cJSON *req = cJSON_ParseWithLength(body, len);
    if (!req || !cJSON_IsObject(req)) {
        cJSON_Delete(req);
        detail(r, 400, "the body is not a JSON object ({\"sources\": [...], \"options\": {...}})");
        return;
    }
    const cJSON *v;
    cJSON_ArrayForEach(v, req) {
        const char *k = v->string;
        if (strcmp(k, "sources") && strcmp(k, "options") && strcmp(k, "target") &&
            strcmp(k, "callbacks") &&
            (batch || (strcmp(k, "file_sources") && strcmp(k, "http_sources")))) {
            char safe[64];
            srv_sanitize(safe, sizeof safe, k, strlen(k));
            snprintf(msg, sizeof msg, "unknown field '%s' in the request", safe);
            cJSON_Delete(req);
            detail(r, 400, msg);
            return;
        }
    }
    const cJSON *callbacks = cJSON_GetObjectItemCaseSensitive(req, "callbacks");
    if (callbacks && (!cJSON_IsArray(callbacks) || cJSON_GetArraySize(callbacks) > 0)) {
        cJSON_Delete(req);
        detail(r, 400,
               "callbacks: this server makes no progress callbacks (send [] or leave it "
               "out); poll /v1/status/poll/{task_id}");
        return;
    }
    const cJSON *target = cJSON_GetObjectItemCaseSensitive(req, "target");
    bool zip = batch;
    if (batch) {
        const cJSON *sources = cJSON_GetObjectItemCaseSensitive(req, "sources");
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(target, "kind");
        const char *why = NULL;
        if (!cJSON_IsArray(sources) || cJSON_GetArraySize(sources) < 1)
            why = "sources: a batch takes a list of at least one source of kind \"http\"";
        else if (target && !(cJSON_IsString(kind) && strcmp(kind->valuestring, "zip") == 0))
            why = "target: a batch here is answered with a zip at /v1/result/{task_id} (target "
                  "left out, or {\"kind\": \"zip\"}); this server has no S3 or presigned-URL "
                  "storage";
        if (why) {
            cJSON_Delete(req);
            detail(r, 400, why);
            return;
        }
        target = NULL;
    }
    if (target) {
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(target, "kind");
        zip = cJSON_IsString(kind) && strcmp(kind->valuestring, "zip") == 0;
        if (!zip && (!cJSON_IsString(kind) || strcmp(kind->valuestring, "inbody") != 0)) {
            cJSON_Delete(req);
            detail(r, 400,
                   "target: only {\"kind\": \"inbody\"} and {\"kind\": \"zip\"} are made by "
                   "this server (no S3, PUT or presigned-URL targets)");
            return;
        }
    }
    srv_doc_input docs[MAX_DOCS];
    unsigned char *bufs[MAX_DOCS] = {0};
    int n = 0, bad_status = 400;
    bool bad = false;
    const char *lists[3] = {"sources", "file_sources", "http_sources"};
    for (int l = 0; l < 3 && !bad; l++) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(req, lists[l]);
        if (!arr) continue;
        if (!cJSON_IsArray(arr)) {
            snprintf(msg, sizeof msg, "'%s' must be a list", lists[l]);
            bad = true;
            break;
        }
        int idx = 0;
        const cJSON *src;
        cJSON_ArrayForEach(src, arr) {
            const cJSON *kind = cJSON_GetObjectItemCaseSensitive(src, "kind");
            const char *kw = l == 1                 ? "file"
                             : l == 2               ? "http"
                             : cJSON_IsString(kind) ? kind->valuestring
                                                    : NULL;
            char what[64];
            snprintf(what, sizeof what, "%s[%d]", lists[l], idx++);
            if (!cJSON_IsObject(src) || !kw) {
                snprintf(msg, sizeof msg, "%s must be an object with \"kind\" (\"file\")", what);
                bad = true;
                break;
            }
            if (strcmp(kw, "http") == 0) {
                if (!s->cfg.allow_url_sources) {
                    snprintf(msg, sizeof msg,
                             "%s: sources of kind \"http\" (a URL for the server to fetch) are "
                             "refused: this server was not started with --allow-url-sources; "
                             "send the document as kind \"file\" (base64_string)",
                             what);
                    bad = true;
                    break;
                }
                const cJSON *url = cJSON_GetObjectItemCaseSensitive(src, "url");
                if (!cJSON_IsString(url) || !url->valuestring[0]) {
                    snprintf(msg, sizeof msg, "%s.url is missing or not a string", what);
                    bad = true;
                    break;
                }
                if (n == MAX_DOCS) {
                    snprintf(msg, sizeof msg, "more than %d sources in one request", MAX_DOCS);
                    bad = true;
                    break;
                }
                char why[500];
                char *fetched = NULL;
                if (!srv_fetch_url(&s->cfg, url->valuestring,
                                   cJSON_GetObjectItemCaseSensitive(src, "headers"), &docs[n],
                                   &fetched, why, sizeof why)) {
                    snprintf(msg, sizeof msg, "%s: %s", what, why);
                    /* a URL the server could not use is the request's fault (422); a URL
                     * that is not http(s) or malformed headers, a bad request (400) */
                    bad_status = strstr(why, "only http") || strstr(why, "header") ? 400 : 422;
                    bad = true;
                    break;
                }
                bufs[n] = (unsigned char *)fetched;
                char name[256];
                snprintf(name, sizeof name, "%s", docs[n].filename);
                clean_filename(docs[n].filename, sizeof docs[n].filename, name, strlen(name));
                n++;
                continue;
            }
            if (strcmp(kw, "file") != 0 || batch) {
                char safe[40];
                srv_sanitize(safe, sizeof safe, kw, strlen(kw));
                if (strcmp(kw, "s3") == 0)
                    snprintf(msg, sizeof msg,
                             "%s: sources of kind \"s3\" are not read by this server (it has no "
                             "S3 client): use kind \"http\" with a presigned URL",
                             what);
                else if (batch)
                    snprintf(msg, sizeof msg,
                             "%s: a batch takes sources of kind \"http\", not '%s' (send files "
                             "to /v1/convert/source/async)",
                             what, safe);
                else
                    snprintf(msg, sizeof msg,
                             "%s: unknown source kind '%s' (use \"file\" or \"http\")", what, safe);
                bad = true;
                break;
            }
            const cJSON *b64 = cJSON_GetObjectItemCaseSensitive(src, "base64_string");
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(src, "filename");
            if (!cJSON_IsString(b64)) {
                snprintf(msg, sizeof msg, "%s.base64_string is missing or not a string", what);
                bad = true;
                break;
            }
            if (n == MAX_DOCS) {
                snprintf(msg, sizeof msg, "more than %d sources in one request", MAX_DOCS);
                bad = true;
                break;
            }
            size_t bl = strlen(b64->valuestring);
            bufs[n] = malloc(bl / 4 * 3 + 4);
            if (!bufs[n]) {
                snprintf(msg, sizeof msg, "out of memory");
                bad = true;
                break;
            }
            char w2[80];
            snprintf(w2, sizeof w2, "%s.base64_string", what);
            long long got = base64_decode(b64->valuestring, bl, bufs[n], w2, msg, sizeof msg);
            if (got < 0) {
                free(bufs[n]);
                bufs[n] = NULL;
                bad = true;
                break;
            }
            const char *fname = cJSON_IsString(name) ? name->valuestring : "file.pdf";
            clean_filename(docs[n].filename, sizeof docs[n].filename, fname, strlen(fname));
            docs[n].data = bufs[n];
            docs[n].size = (size_t)got;
            n++;
        }
    }
    if (!bad)
        convert(s, docs, n, cJSON_GetObjectItemCaseSensitive(req, "options"), zip, async || batch,
                start, r);
    else detail(r, bad_status, msg);
    for (int i = 0; i < MAX_DOCS; i++) free(bufs[i]);
    cJSON_Delete(req);
}

/* ---- tasks -------------------------------------------------------------------------------- */

static srv_task *task_from(srv_server *s, const char *id, srv_reply *r) {
    srv_task *t = srv_task_find(s->tasks, id);
    if (!t) {
        char safe[80], msg[160];
        srv_sanitize(safe, sizeof safe, id, strlen(id));
        snprintf(msg, sizeof msg, "Task not found: '%s' (unknown, or its result expired)", safe);
        detail(r, 404, msg);
    }
    return t;
}

static void poll_status(srv_server *s, struct MHD_Connection *c, const char *id, srv_reply *r) {
    const char *w = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "wait");
    double wait = 0;
    if (w) {
        char *end;
        wait = strtod(w, &end);
        if (end == w || *end || !isfinite(wait) || wait < 0) {
            detail(r, 400, "wait expects a number of seconds >= 0");
            return;
        }
        if (wait > 300) wait = 300;
    }
    srv_task *t = task_from(s, id, r);
    if (!t) return;
    if (wait > 0) srv_task_wait(s->tasks, t, srv_now_ms() + (int64_t)(wait * 1000));
    json_reply(r, 200, srv_task_status_json(s->tasks, t));
    srv_task_release(s->tasks, t);
}

static void task_result(srv_server *s, const char *id, srv_reply *r) {
    srv_task *t = task_from(s, id, r);
    if (!t) return;
    size_t len = 0;
    int http = 200;
    bool is_zip = false;
    char *body = srv_task_result(s->tasks, t, &len, &http, &is_zip);
    if (body) {
        result_reply(r, http, body, len, is_zip);
    } else {
        cJSON *st = srv_task_status_json(s->tasks, t);
        const cJSON *state = cJSON_GetObjectItemCaseSensitive(st, "task_state");
        bool cancelled = cJSON_IsString(state) && strcmp(state->valuestring, "cancelled") == 0;
        cJSON_Delete(st);
        detail(r, 404,
               cancelled ? "the task was cancelled; it has no result"
                         : "Task result not found. Please wait for a completion status.");
    }
    srv_task_release(s->tasks, t);
}

static void cancel_task(srv_server *s, const char *id, srv_reply *r) {
    srv_task *t = task_from(s, id, r);
    if (!t) return;
    if (!srv_task_cancel(s->tasks, t)) {
        detail(r, 409, "the task has finished; there is nothing to cancel");
    } else {
        srv_task_wait(s->tasks, t, srv_now_ms() + 10000);
        json_reply(r, 200, srv_task_status_json(s->tasks, t));
    }
    srv_task_release(s->tasks, t);
}

/* ---- the page and its labels ---------------------------------------------------------------- */

/* A colour per label id, well apart (golden-angle hues), as #rrggbb. */
static void label_color(int id, char out[8]) {
    double h = fmod(id * 137.508, 360.0) / 60.0, s = 0.70, l = 0.45;
    double c = (1 - fabs(2 * l - 1)) * s, x = c * (1 - fabs(fmod(h, 2.0) - 1)), m = l - c / 2;
    double rgb[3] = {0, 0, 0};
    int sector = (int)h;
    const int order[6][3] = {{0, 1, 2}, {1, 0, 2}, {1, 2, 0}, {2, 1, 0}, {2, 0, 1}, {0, 2, 1}};
    /* sector k: (c, x, 0) permuted */
    double vals[3] = {c, x, 0};
    for (int k = 0; k < 3; k++) rgb[order[sector % 6][k]] = vals[k];
    snprintf(out, 8, "#%02x%02x%02x", (int)lround((rgb[0] + m) * 255),
             (int)lround((rgb[1] + m) * 255), (int)lround((rgb[2] + m) * 255));
}

static void labels_route(srv_server *s, struct MHD_Connection *c, srv_reply *r) {
    const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "model");
    int mi = name ? find_layout_model(s, name) : 0;
    if (mi < 0) {
        detail(r, 404, "no such model (see /v2/models/NAME)");
        return;
    }
    const srv_model *m = &s->models[mi];
    cJSON *j = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    cJSON_AddStringToObject(j, "model", m->name);
    for (int i = 0; i < dl_model_num_labels(m->model); i++) {
        cJSON *l = cJSON_CreateObject();
        char color[8];
        label_color(i, color);
        cJSON_AddNumberToObject(l, "id", i);
        cJSON_AddStringToObject(l, "name", dl_model_label_name(m->model, i));
        cJSON_AddStringToObject(l, "color", color);
        cJSON_AddItemToArray(arr, l);
    }
    cJSON_AddItemToObject(j, "labels", arr);
    json_reply(r, 200, j);
}

/* ---- routing ------------------------------------------------------------------------------ */

static bool is_method(const char *m, const char *want) {
    return strcmp(m, want) == 0 || (strcmp(want, "GET") == 0 && strcmp(m, "HEAD") == 0);
}

static void wrong_method(srv_reply *r, const char *method, const char *allow) {
    char msg[120], safe[16];
    srv_sanitize(safe, sizeof safe, method, strlen(method));
    snprintf(msg, sizeof msg, "Method %s Not Allowed (use %s)", safe, allow);
    detail(r, 405, msg);
}

void srv_docling_handle(srv_server *s, void *conn, const char *method, const char *url,
                        const char *body, size_t len, srv_reply *r) {
    struct MHD_Connection *c = conn;
    memset(r, 0, sizeof *r);
    const char *get = "GET", *post = "POST";
    if (strcmp(url, "/") == 0) {
        if (!is_method(method, get)) {
            wrong_method(r, method, get);
            return;
        }
        r->body = malloc(srv_web_index_html_len + 1);
        if (!r->body) {
            detail(r, 500, "out of memory");
            return;
        }
        memcpy(r->body, srv_web_index_html, srv_web_index_html_len);
        r->status = 200;
        r->code = SRV_OK;
        r->ctype = "text/html; charset=utf-8";
        r->len = srv_web_index_html_len;
        return;
    }
    if (strcmp(url, "/v1/labels") == 0) {
        if (!is_method(method, get)) {
            wrong_method(r, method, get);
            return;
        }
        labels_route(s, c, r);
        return;
    }
    if (strcmp(url, "/health") == 0 || strcmp(url, "/ready") == 0) {
        if (!is_method(method, get)) {
            wrong_method(r, method, get);
            return;
        }
        bool down = url[1] == 'r' && atomic_load(&s->draining);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "status", down ? "shutting down" : "ok");
        {
            json_reply(r, down ? 503 : 200, j);
            return;
        }
    }
    if (strcmp(url, "/version") == 0) {
        if (!is_method(method, get)) {
            wrong_method(r, method, get);
            return;
        }
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "doclayout", dl_version());
        cJSON_AddStringToObject(j, "api", "docling-serve v1 (subset)");
        {
            json_reply(r, 200, j);
            return;
        }
    }
    struct {
        const char *path;
        bool file, async, batch;
    } conv[] = {{"/v1/convert/file", true, false, false},
                {"/v1/convert/file/async", true, true, false},
                {"/v1/convert/source", false, false, false},
                {"/v1/convert/source/async", false, true, false},
                {"/v1/convert/source/batch", false, true, true}};
    for (size_t i = 0; i < sizeof conv / sizeof conv[0]; i++) {
        if (strcmp(url, conv[i].path) != 0) continue;
        if (!is_method(method, post) || strcmp(method, "HEAD") == 0) {
            wrong_method(r, method, post);
            return;
        }
        if (conv[i].file) {
            convert_file(s, c, body, len, conv[i].async, r);
            return;
        }
        {
            convert_source(s, body ? body : "", len, conv[i].async, conv[i].batch, r);
            return;
        }
    }
    const char *poll = "/v1/status/poll/", *result = "/v1/result/", *tasks = "/v1/tasks/";
    if (strncmp(url, poll, strlen(poll)) == 0) {
        if (!is_method(method, get)) {
            wrong_method(r, method, get);
            return;
        }
        {
            poll_status(s, c, url + strlen(poll), r);
            return;
        }
    }
    if (strncmp(url, result, strlen(result)) == 0) {
        if (!is_method(method, get)) {
            wrong_method(r, method, get);
            return;
        }
        {
            task_result(s, url + strlen(result), r);
            return;
        }
    }
    if (strncmp(url, tasks, strlen(tasks)) == 0) {
        if (strcmp(method, "DELETE") == 0) {
            cancel_task(s, url + strlen(tasks), r);
            return;
        }
        if (is_method(method, get)) {
            poll_status(s, c, url + strlen(tasks), r);
            return;
        }
        {
            wrong_method(r, method, "DELETE");
            return;
        }
    }
    char msg[300], safe[200];
    srv_sanitize(safe, sizeof safe, url, strlen(url));
    snprintf(msg, sizeof msg, "Not Found: no route %s", safe);
    detail(r, 404, msg);
}
