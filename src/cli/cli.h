/*
 * doclayout CLI: the command table, the options the commands share, and helpers.
 *
 * A command is one file src/cli/cmd_NAME.c defining `int dl_cli_NAME(int argc, char **argv)`
 * (argv[0] is the command's name; returns the exit status: 0 ok, 1 failure, 2 usage) and
 * `const char dl_cli_NAME_help[]` (its part of `doclayout help`), plus one line in
 * DL_CLI_COMMANDS below. The CLI includes only doclayout.h and its own headers.
 */
#ifndef DL_CLI_CLI_H
#define DL_CLI_CLI_H

#include <stdio.h>

#include "doclayout.h"

typedef struct options {
    const char *model;
    int threads;
    float threshold;
    dl_device device;
    int device_index;
    dl_precision precision;
    const char *out_file;
    const char *overlay_dir;
    const char *input;
    const char *out_dir;
    const char **files;
    int n_files;
    /* documents */
    const char *format; /* an output format name (dl_output_format_name): "json", ... */
    int raw;
    double dpi;
    const char *pages;
    const char *password;
    int words;
    int batch;
    int workers; /* page workers of detect; 0 = chosen from the cores and the device */
    int force;
    int quiet;
    int timings;
    int coco_images;
} options;

/* The commands, in the order `doclayout help` lists them: one line each. */
#define DL_CLI_COMMANDS(X)                                                                         \
    X(detect)                                                                                      \
    X(infer)                                                                                       \
    X(eval)                                                                                        \
    X(doctor)                                                                                      \
    X(serve)

#define DL_CLI_DECLARE_(name)                                                                      \
    int dl_cli_##name(int argc, char **argv);                                                      \
    extern const char dl_cli_##name##_help[];
DL_CLI_COMMANDS(DL_CLI_DECLARE_)

/* `doclayout help` (every command's help, in table order). */
void dl_cli_usage(FILE *f);

/* ---- option parsing (options.c) ---- */

/* The options several commands share, by bit: which ones a command takes. */
enum {
    DL_CLI_OPT_MODEL = 1u << 0,     /* --model DIR|REPO, -m */
    DL_CLI_OPT_THREADS = 1u << 1,   /* --threads N, -t */
    DL_CLI_OPT_DEVICE = 1u << 2,    /* --device cpu|cuda|cuda:N|auto */
    DL_CLI_OPT_PRECISION = 1u << 3, /* --precision fp32|bf16|fp16 */
    DL_CLI_OPT_CPU = 1u << 4,       /* --cpu LEVEL (the CPU kernels) */
    DL_CLI_OPT_ALL = 0x1fu,
};
/* argv[*i] when it is one of the `allowed` shared options, its value consumed (*i advanced):
 * 1; 0 when it is not one; -1 on a usage error (printed). */
int dl_cli_shared_option(int argc, char **argv, int *i, unsigned allowed, options *o);
/* Every option of detect and infer (argv[0] the command); 0, or 2 on a usage error (printed).
 * Free o->files afterwards. */
int dl_cli_parse_options(int argc, char **argv, options *o);
/* A number in [lo, hi] / a whole number in [lo, hi]; 0 with the usage error printed. */
int dl_cli_parse_number(const char *opt, const char *s, double lo, double hi, double *out);
int dl_cli_parse_count(const char *opt, const char *s, int lo, int hi, int *out);
/* Load o->model and create its detector as the options say; 0, or 1 with the error printed. */
int dl_cli_load_detector(const options *o, dl_model **model, dl_detector **det);

/* The bundled default model's directory, or NULL: $DOCLAYOUT_MODEL, else
 * <prefix>/share/doclayout/models/default next to an installed binary, else models/default of
 * the source tree the binary was built from (wherever the build directory is). */
const char *dl_cli_default_model(void);

#endif
