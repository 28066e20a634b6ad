/* doclayout serve in a build without libmicrohttpd, gRPC or protobuf-c (-DDL_SERVER=OFF, or
 * AUTO when they are missing): the command says so. */
#include <stdio.h>

#include "server/serve.h"

int dl_serve_main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "doclayout serve: this build has no server (it needs libmicrohttpd, gRPC "
                    "and protobuf-c: scripts/install-deps.sh, then cmake -DDL_SERVER=ON)\n");
    return 1;
}
