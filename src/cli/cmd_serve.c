/* doclayout serve: the KServe v2 server (src/server/, docs/server.md), one line in the command
 * table. */
#include "cli/cli.h"
#include "server/serve.h"

const char dl_cli_serve_help[] =
    "  doclayout serve [--model [NAME=]DIR ...] [--port N] [--grpc-port N] [options]\n"
    "      Serve the models to Docling over KServe v2, HTTP and gRPC (serve --help,\n"
    "      docs/server.md).\n";

int dl_cli_serve(int argc, char **argv) { return dl_serve_main(argc, argv); }
