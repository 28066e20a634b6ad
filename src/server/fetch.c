/*
 * Sources of kind "http" of the document API (docling-serve's HttpSource: url, headers),
 * fetched with libcurl when the server was started with --allow-url-sources: http and https
 * only (redirects too, at most 5), at most --max-url-bytes, within --url-timeout-s. Errors name
 * the URL and the reason. A build without libcurl (DL_HAVE_CURL undefined) says so.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/docling.h"

/* The last segment of the URL's path ("file.pdf" when there is none). */
static void url_filename(const char *url, char *out, size_t size) {
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    p = strchr(p, '/');
    char path[512] = "";
    if (p) {
        size_t n = strcspn(p, "?#");
        if (n >= sizeof path) n = sizeof path - 1;
        memcpy(path, p, n);
        path[n] = '\0';
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, size, "%s", *base ? base : "file.pdf");
}

#ifdef DL_HAVE_CURL
#include <curl/curl.h>

bool srv_fetch_available(void) { return true; }

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_status = CURLE_FAILED_INIT;
static void curl_init(void) { curl_init_status = curl_global_init(CURL_GLOBAL_DEFAULT); }

typedef struct sink {
    char *p;
    size_t n, cap, max;
    bool too_large;
} sink;

static size_t on_data(char *data, size_t one, size_t n, void *user) {
    sink *k = user;
    size_t add = one * n;
    if (k->n + add > k->max) {
        k->too_large = true;
        return 0; /* libcurl stops: CURLE_WRITE_ERROR */
    }
    if (k->n + add + 1 > k->cap) {
        size_t cap = k->cap ? k->cap : 65536;
        while (cap < k->n + add + 1) cap *= 2;
        char *q = realloc(k->p, cap);
        if (!q) return 0;
        k->p = q;
        k->cap = cap;
    }
    memcpy(k->p + k->n, data, add);
    k->n += add;
    return add;
}

bool srv_fetch_url(const srv_config *cfg, const char *url, const cJSON *headers, srv_doc_input *doc,
                   char **buf, char *msg, size_t size) {
    char safe[300];
    srv_sanitize(safe, sizeof safe, url, strlen(url));
    *buf = NULL;
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
        snprintf(msg, size, "URL '%s': only http:// and https:// URLs are fetched", safe);
        return false;
    }
    pthread_once(&curl_once, curl_init);
    if (curl_init_status != CURLE_OK) {
        snprintf(msg, size, "URL '%s': libcurl did not start: %s", safe,
                 curl_easy_strerror(curl_init_status));
        return false;
    }
    struct curl_slist *hl = NULL;
    if (headers && !cJSON_IsObject(headers)) {
        snprintf(msg, size, "URL '%s': headers must be an object of names and values", safe);
        return false;
    }
    const cJSON *h;
    cJSON_ArrayForEach(h, headers) {
        char line[2048], val[1024];
        if (cJSON_IsString(h)) snprintf(val, sizeof val, "%s", h->valuestring);
        else if (cJSON_IsNumber(h)) snprintf(val, sizeof val, "%g", h->valuedouble);
        else {
            snprintf(msg, size, "URL '%s': header '%.60s' must be a string", safe, h->string);
            curl_slist_free_all(hl);
            return false;
        }
        bool bad = !*h->string || strpbrk(h->string, "\r\n: ") || strpbrk(val, "\r\n");
        snprintf(line, sizeof line, "%s: %s", h->string, val);
        struct curl_slist *nl = bad ? NULL : curl_slist_append(hl, line);
        if (!nl) {
            char name[64];
            srv_sanitize(name, sizeof name, h->string, strlen(h->string));
            snprintf(msg, size, "URL '%s': header '%s' is not a valid HTTP header", safe, name);
            curl_slist_free_all(hl);
            return false;
        }
        hl = nl;
    }
    CURL *c = curl_easy_init();
    if (!c) {
        curl_slist_free_all(hl);
        snprintf(msg, size, "URL '%s': out of memory", safe);
        return false;
    }
    sink k = {.max = cfg->max_url_bytes};
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &k);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85: the _STR forms; the bit masks are deprecated */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)cfg->url_timeout_s);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cfg->max_url_bytes);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "doclayout-serve");
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    char *eff = NULL;
    curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff);
    char final_name[256];
    url_filename(eff ? eff : url, final_name, sizeof final_name);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    bool ok = false;
    if (k.too_large || rc == CURLE_FILESIZE_EXCEEDED)
        snprintf(msg, size, "URL '%s': the document is larger than %zu bytes (--max-url-bytes)",
                 safe, cfg->max_url_bytes);
    else if (rc == CURLE_OPERATION_TIMEDOUT)
        snprintf(msg, size, "URL '%s': not fetched within %d s (--url-timeout-s)", safe,
                 cfg->url_timeout_s);
    else if (rc == CURLE_TOO_MANY_REDIRECTS)
        snprintf(msg, size, "URL '%s': more than 5 redirects", safe);
    else if (rc == CURLE_UNSUPPORTED_PROTOCOL)
        snprintf(msg, size, "URL '%s': redirected to a URL that is not http:// or https://", safe);
    else if (rc != CURLE_OK) {
        char e[CURL_ERROR_SIZE + 8];
        srv_sanitize(e, sizeof e, errbuf[0] ? errbuf : curl_easy_strerror(rc),
                     strlen(errbuf[0] ? errbuf : curl_easy_strerror(rc)));
        snprintf(msg, size, "URL '%s': cannot fetch it: %s", safe, e);
    } else if (code < 200 || code > 299)
        snprintf(msg, size, "URL '%s': the server answered HTTP %ld", safe, code);
    else if (k.n == 0) snprintf(msg, size, "URL '%s': the document is empty", safe);
    else ok = true;
    if (!ok) {
        free(k.p);
        return false;
    }
    *buf = k.p;
    doc->data = k.p;
    doc->size = k.n;
    snprintf(doc->filename, sizeof doc->filename, "%s", final_name);
    return true;
}

#else

bool srv_fetch_available(void) { return false; }

bool srv_fetch_url(const srv_config *cfg, const char *url, const cJSON *headers, srv_doc_input *doc,
                   char **buf, char *msg, size_t size) {
    (void)cfg;
    (void)headers;
    (void)doc;
    *buf = NULL;
    char safe[300], name[8];
    srv_sanitize(safe, sizeof safe, url, strlen(url));
    url_filename(url, name, sizeof name);
    snprintf(msg, size,
             "URL '%s': this build of doclayout has no libcurl: send the document "
             "as kind \"file\"",
             safe);
    return false;
}

#endif
