/*
 * The document API's WebSocket status route, /v1/status/ws/{task_id}, as docling-serve has it
 * (docling_serve/app.py, websocket_notifier.py): on connect a "connection" message and an
 * "update" with the task's TaskStatusResponse; an "update" whenever the task's status, queue
 * position or progress changes, and one for every message the client sends; when the task
 * has finished, its last "update", then the close. An unknown task: an "error" message
 * ("Task not found."), then the close. Messages are {"message", "task", "error"}.
 *
 * libmicrohttpd does the HTTP part (the 101 answer, MHD_create_response_for_upgrade, in
 * http.c); this file does the rest of RFC 6455 on the upgraded socket: the handshake's
 * Sec-WebSocket-Accept (SHA-1 and base64 from nettle, GnuTLS's own crypto library, which
 * libmicrohttpd already brings), and the frames (server frames unmasked; client frames must be
 * masked; ping answered with pong; text and binary of at most 64 KiB; no fragmented messages
 * needed by this protocol beyond skipping them). Runs in the connection's own thread
 * (libmicrohttpd's thread-per-connection mode lets an upgrade handler block).
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server/docling.h"

#ifdef DL_HAVE_NETTLE
#include <nettle/base64.h>
#include <nettle/sha1.h>

bool srv_ws_available(void) { return true; }

bool srv_ws_accept_key(const char *client_key, char out[32]) {
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    size_t n = strlen(client_key);
    if (n != 24) return false; /* base64 of 16 bytes */
    struct sha1_ctx ctx;
    uint8_t digest[SHA1_DIGEST_SIZE];
    sha1_init(&ctx);
    sha1_update(&ctx, n, (const uint8_t *)client_key);
    sha1_update(&ctx, sizeof guid - 1, (const uint8_t *)guid);
    sha1_digest(&ctx, sizeof digest, digest);
    base64_encode_raw(out, sizeof digest, digest); /* 28 characters */
    out[BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE)] = '\0';
    return true;
}

#else

bool srv_ws_available(void) { return false; }

bool srv_ws_accept_key(const char *client_key, char out[32]) {
    (void)client_key;
    out[0] = '\0';
    return false;
}

#endif

#define WS_MAX_FRAME 65536

/* Send all of `data` (the socket may be non-blocking); false when the peer went away. */
static bool send_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && (errno == EINTR)) continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            if (poll(&pf, 1, 10000) <= 0) return false;
            continue;
        }
        if (k <= 0) return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

static bool send_frame(int fd, int opcode, const void *data, size_t n) {
    unsigned char h[10];
    size_t hl = 2;
    h[0] = (unsigned char)(0x80 | opcode); /* FIN */
    if (n < 126) {
        h[1] = (unsigned char)n;
    } else if (n < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++) h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    return send_all(fd, h, hl) && send_all(fd, data, n);
}

static bool send_close(int fd, int code) {
    unsigned char b[2] = {(unsigned char)(code >> 8), (unsigned char)code};
    return send_frame(fd, 0x8, b, 2);
}

/* docling-serve's WebsocketMessage: {"message", "task", "error"} */
static bool send_message(int fd, const char *kind, cJSON *task, const char *error) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "message", kind);
    if (task) cJSON_AddItemToObject(j, "task", task);
    else cJSON_AddNullToObject(j, "task");
    if (error) cJSON_AddStringToObject(j, "error", error);
    else cJSON_AddNullToObject(j, "error");
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    bool ok = text && send_frame(fd, 0x1, text, strlen(text));
    free(text);
    return ok;
}

/* What an update is sent for: the status, the queue position and the progress. */
static void status_key(const cJSON *st, char *out, size_t size) {
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(st, "task_meta");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(st, "task_status");
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(st, "task_position");
    const cJSON *pages = cJSON_GetObjectItemCaseSensitive(meta, "num_pages_done");
    const cJSON *docs = cJSON_GetObjectItemCaseSensitive(meta, "num_processed");
    snprintf(out, size, "%s/%g/%g/%g", cJSON_IsString(status) ? status->valuestring : "?",
             cJSON_IsNumber(pos) ? pos->valuedouble : -1,
             cJSON_IsNumber(pages) ? pages->valuedouble : -1,
             cJSON_IsNumber(docs) ? docs->valuedouble : -1);
}

static bool is_finished(const cJSON *st) {
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(st, "task_status");
    return cJSON_IsString(status) && (strcmp(status->valuestring, "success") == 0 ||
                                      strcmp(status->valuestring, "failure") == 0);
}

typedef enum { IN_MORE, IN_UPDATE, IN_END } in_result;

/* Read the client's frames out of buf[0..*len); consumed ones are removed. */
static in_result read_frames(int fd, unsigned char *buf, size_t *len, bool *want_update) {
    for (;;) {
        size_t n = *len;
        if (n < 2) return IN_MORE;
        int opcode = buf[0] & 0x0f;
        bool masked = buf[1] & 0x80;
        uint64_t pl = buf[1] & 0x7f;
        size_t hl = 2;
        if (pl == 126) {
            if (n < 4) return IN_MORE;
            pl = (uint64_t)buf[2] << 8 | buf[3];
            hl = 4;
        } else if (pl == 127) {
            if (n < 10) return IN_MORE;
            pl = 0;
            for (int i = 0; i < 8; i++) pl = pl << 8 | buf[2 + i];
            hl = 10;
        }
        if (!masked) { /* RFC 6455 5.1: a client's frames are masked */
            send_close(fd, 1002);
            return IN_END;
        }
        if (pl > WS_MAX_FRAME) {
            send_close(fd, 1009);
            return IN_END;
        }
        if (n < hl + 4 + pl) return IN_MORE;
        unsigned char *mask = buf + hl, *data = buf + hl + 4;
        for (uint64_t i = 0; i < pl; i++) data[i] ^= mask[i % 4];
        switch (opcode) {
        case 0x0:
        case 0x1:
        case 0x2: *want_update = true; break; /* each message asks for an update */
        case 0x8:                             /* close: answer it, then the socket is closed */
            send_frame(fd, 0x8, data, pl >= 2 ? 2 : 0);
            return IN_END;
        case 0x9: send_frame(fd, 0xA, data, (size_t)pl); break;
        case 0xA: break;
        default: send_close(fd, 1002); return IN_END;
        }
        size_t used = hl + 4 + (size_t)pl;
        memmove(buf, buf + used, n - used);
        *len = n - used;
    }
}

void srv_ws_session(srv_server *s, int fd, const char *extra, size_t extra_len,
                    const char *task_id) {
    srv_task *t = srv_task_find(s->tasks, task_id);
    if (!t) {
        send_message(fd, "error", NULL, "Task not found.");
        send_close(fd, 1000);
        return;
    }
    unsigned char *buf = malloc(WS_MAX_FRAME + 64);
    size_t len = 0;
    char last[128] = "";
    cJSON *st = srv_task_status_json(s->tasks, t);
    status_key(st, last, sizeof last);
    bool finished = is_finished(st), closed = false;
    bool ok = buf && send_message(fd, "connection", st, NULL);
    if (ok) ok = send_message(fd, "update", srv_task_status_json(s->tasks, t), NULL);
    if (ok && extra_len) {
        size_t n = extra_len < WS_MAX_FRAME ? extra_len : WS_MAX_FRAME;
        memcpy(buf, extra, n);
        len = n;
    }
    while (ok && !finished) {
        bool want_update = false;
        if (len) {
            if (read_frames(fd, buf, &len, &want_update) == IN_END) {
                closed = true;
                break;
            }
        }
        if (!want_update) {
            struct pollfd pf = {.fd = fd, .events = POLLIN};
            int pr = poll(&pf, 1, 200);
            if (pr > 0) {
                ssize_t k = recv(fd, buf + len, WS_MAX_FRAME + 64 - len, 0);
                if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN)) { /* gone */
                    closed = true;
                    break;
                }
                if (k > 0) {
                    len += (size_t)k;
                    if (read_frames(fd, buf, &len, &want_update) == IN_END) {
                        closed = true;
                        break;
                    }
                }
            }
        }
        if (atomic_load(&s->draining)) {
            send_close(fd, 1001); /* going away */
            closed = true;
            break;
        }
        cJSON *now = srv_task_status_json(s->tasks, t);
        char key[128];
        status_key(now, key, sizeof key);
        finished = is_finished(now);
        if (want_update || strcmp(key, last) != 0 || finished) {
            snprintf(last, sizeof last, "%s", key);
            ok = send_message(fd, "update", now, NULL);
        } else {
            cJSON_Delete(now);
        }
    }
    /* the task has finished: its last update went out; close, as docling-serve does */
    if (ok && finished && !closed) send_close(fd, 1000);
    free(buf);
    srv_task_release(s->tasks, t);
}
