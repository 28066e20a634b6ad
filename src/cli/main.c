/* doclayout: the command-line program, a table of commands (cli/cli.h: DL_CLI_COMMANDS). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "doclayout.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} command;

#define DL_CLI_ENTRY_(name) {#name, dl_cli_##name, dl_cli_##name##_help},
static const command commands[] = {DL_CLI_COMMANDS(DL_CLI_ENTRY_)};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

void dl_cli_usage(FILE *f) {
    fprintf(f,
            "doclayout %s - document layout detection with Docling's models, no Python needed\n"
            "\n"
            "Usage:\n",
            dl_version());
    for (size_t i = 0; i < N_COMMANDS; i++) fputs(commands[i].help, f);
    fputs("  doclayout version\n"
          "  doclayout help\n"
          "\n"
          "Exit status: 0 on success, 1 when any input failed, 2 on a usage error.\n",
          f);
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        dl_cli_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("doclayout %s\n", dl_version());
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "doclayout: unknown command '%s' (see doclayout help)\n", argv[1]);
    return 2;
}
