/* Finding the bundled default model without being told where it is. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

#ifndef DL_CLI_SOURCE_DIR
#define DL_CLI_SOURCE_DIR ""
#endif

static int has_config(const char *dir) {
    char p[PATH_MAX + 128];
    struct stat st;
    snprintf(p, sizeof p, "%s/config.json", dir);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

const char *dl_cli_default_model(void) {
    static char found[PATH_MAX + 64];
    const char *env = getenv("DOCLAYOUT_MODEL");
    if (env && *env) return env;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return NULL;
    *slash = '\0'; /* the binary's directory: <prefix>/bin or a build directory */
    snprintf(found, sizeof found, "%s/../share/doclayout/models/default", exe);
    if (has_config(found)) return found;
    /* A build directory may be anywhere (cmake -S . -B /tmp/x): the source tree it was built
     * from is compiled in. */
    if (DL_CLI_SOURCE_DIR[0]) {
        snprintf(found, sizeof found, "%s/models/default", DL_CLI_SOURCE_DIR);
        if (has_config(found)) return found;
    }
    /* a build tree moved together with its source tree (build/ or build/sub/ inside it) */
    const char *rel[] = {"../models/default", "../../models/default"};
    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
        snprintf(found, sizeof found, "%s/%s", exe, rel[i]);
        if (has_config(found)) return found;
    }
    return NULL;
}
