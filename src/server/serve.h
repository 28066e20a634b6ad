/* doclayout serve: the command's entry point, called by the CLI's main. */
#ifndef DL_SERVER_SERVE_H
#define DL_SERVER_SERVE_H

/* argv[0] is "serve". Returns the exit status: 0 after a clean shutdown (SIGTERM, SIGINT), 1
 * when the server could not start, 2 on a usage error. */
int dl_serve_main(int argc, char **argv);

#endif
