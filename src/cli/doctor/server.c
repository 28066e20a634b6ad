/* doctor topic "server": with `doclayout doctor URL`, is a doclayout serve (or any KServe v2
 * server) at http://HOST:PORT reachable, live and ready, and which models does it serve? Plain
 * HTTP/1.0 over a socket with a timeout: no HTTP library needed for two GETs. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli/doctor/doctor.h"

/* GET path from host:port; returns the status (or -1 with why set) and the body in body. */
static int http_get(const char *host, const char *port, const char *path, char *body, size_t size,
                    char *why, size_t wsize) {
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int e = getaddrinfo(host, port, &hints, &res);
    if (e) {
        snprintf(why, wsize, "cannot resolve %s: %s", host, gai_strerror(e));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) continue;
        struct timeval tv = {5, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            snprintf(why, wsize, "cannot connect to %s:%s: %s", host, port, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) return -1;
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, host);
    size_t got = 0;
    if (write(fd, req, (size_t)n) != n) {
        snprintf(why, wsize, "cannot send to %s:%s", host, port);
        close(fd);
        return -1;
    }
    char buf[16384];
    ssize_t r;
    while (got + 1 < sizeof buf && (r = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)r;
    close(fd);
    buf[got] = '\0';
    int status = 0;
    if (sscanf(buf, "HTTP/%*s %d", &status) != 1) {
        snprintf(why, wsize, "%s:%s did not answer HTTP", host, port);
        return -1;
    }
    const char *b = strstr(buf, "\r\n\r\n");
    snprintf(body, size, "%s", b ? b + 4 : "");
    return status;
}

cJSON *doctor_server_report(doctor_run *run) {
    const char *url = run->opts->server_url;
    if (!url) return NULL; /* no section */
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "url", url);
    char host[256] = "", port[16] = "80", why[300] = "", body[16384];
    const char *p = strncmp(url, "http://", 7) == 0 ? url + 7 : url;
    if (strncmp(url, "https://", 8) == 0) {
        doctor_problem(run->problems, "server", "error", "https:// is not checked by doctor",
                       "give the server's plain http://HOST:PORT (doclayout serve speaks HTTP)");
        return s;
    }
    size_t hl = strcspn(p, ":/");
    snprintf(host, sizeof host, "%.*s", (int)(hl < sizeof host ? hl : sizeof host - 1), p);
    if (p[hl] == ':')
        snprintf(port, sizeof port, "%.*s", (int)strcspn(p + hl + 1, "/"), p + hl + 1);
    int live = http_get(host, port, "/v2/health/live", body, sizeof body, why, sizeof why);
    cJSON_AddBoolToObject(s, "reachable", live > 0);
    cJSON_AddBoolToObject(s, "live", live == 200);
    if (live < 0) {
        doctor_problem(run->problems, "server", "error", why,
                       "start it (doclayout serve --host ... --port ...), or check the address, "
                       "the port and any firewall between");
        return s;
    }
    int ready = http_get(host, port, "/v2/health/ready", body, sizeof body, why, sizeof why);
    cJSON_AddBoolToObject(s, "ready", ready == 200);
    if (ready != 200)
        doctor_problem(run->problems, "server", "error", "the server is not ready",
                       "it is starting or shutting down; see its log");
    int meta = http_get(host, port, "/v2", body, sizeof body, why, sizeof why);
    cJSON_AddNumberToObject(s, "metadata_status", meta);
    cJSON *m = meta == 200 ? cJSON_Parse(body) : NULL;
    if (m) {
        cJSON_AddStringToObject(s, "name", doctor_str(m, "name"));
        cJSON_AddStringToObject(s, "version", doctor_str(m, "version"));
        cJSON_Delete(m);
    } else if (meta == 401) {
        cJSON_AddStringToObject(s, "note", "the server needs an API key beyond /v2/health");
    }
    return s;
}

void doctor_server_print(const cJSON *s, FILE *f) {
    if (!cJSON_IsObject(s)) return;
    fprintf(f, "Server %s\n", doctor_str(s, "url"));
    fprintf(f, "  reachable: %s, live: %s, ready: %s\n",
            cJSON_IsTrue(cJSON_GetObjectItem(s, "reachable")) ? "yes" : "no",
            cJSON_IsTrue(cJSON_GetObjectItem(s, "live")) ? "yes" : "no",
            cJSON_IsTrue(cJSON_GetObjectItem(s, "ready")) ? "yes" : "no");
    if (doctor_opt_str(s, "name"))
        fprintf(f, "  server: %s %s\n", doctor_str(s, "name"), doctor_str(s, "version"));
    if (doctor_opt_str(s, "note")) fprintf(f, "  %s\n", doctor_str(s, "note"));
}
