/* What the CLI and document tests share: a scratch directory of their own, file names in it,
 * the tiny RT-DETRv2 checkpoint, and running the CLI against an expected exit code and text. */
#ifndef DL_TEST_SCRATCH_H
#define DL_TEST_SCRATCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

/* The test's scratch directory: /tmp/doclayout_TAG_PID (dl_test_scratch makes it). */
static char tmp[256];

/* Make tmp = /tmp/doclayout_<tag>_<pid>, empty; 0 on success. */
static inline int dl_test_scratch(const char *tag) {
    char cmd[600];
    snprintf(tmp, sizeof tmp, "/tmp/doclayout_%s_%d", tag, (int)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", tmp, tmp);
    return system(cmd) == 0 ? 0 : -1;
}

/* tmp/name; the last 8 results stay valid (enough for one command line). */
static inline const char *tp(const char *name) {
    static char buf[8][600];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, 600, "%s/%s", tmp, name);
    return b;
}

/* The tiny RT-DETRv2 checkpoint: ../shared's golden copy, else the committed fixture. */
static inline const char *dl_test_tiny_model(char *buf, size_t n) {
    char shared[1024];
    const char *s = dl_shared_path("golden/rtdetrv2-tiny", shared, sizeof shared);
    snprintf(buf, n, "%s", s ? s : DL_SOURCE_DIR "/tests/fixtures/golden/rtdetrv2-tiny");
    return buf;
}

/* `doclayout ARGS` exits with `code` and (when text is not NULL) prints `text`. */
static inline void expect(const char *args, int code, const char *text) {
    char cmd[4096], out[1 << 16];
    snprintf(cmd, sizeof cmd, "%s %s", DL_CLI_PATH, args);
    int rc = dl_test_run(cmd, out, sizeof out);
    CHECK_MSG(rc == code, "`doclayout %s` exited %d, expected %d:\n%s", args, rc, code, out);
    CHECK_MSG(!text || strstr(out, text), "`doclayout %s` output lacks '%s':\n%s", args, text, out);
}

#endif
