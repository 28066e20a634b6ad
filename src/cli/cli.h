/* doclayout CLI: options shared by the commands. */
#ifndef DL_CLI_CLI_H
#define DL_CLI_CLI_H

#include "doclayout.h"

typedef enum out_format { FMT_JSON, FMT_COCO, FMT_DOCLING, FMT_MARKDOWN } out_format;

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
    out_format format;
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

int cmd_detect(const options *o);
int load_detector(const options *o, dl_model **model, dl_detector **det);

/* The bundled default model's directory, or NULL: $DOCLAYOUT_MODEL, else
 * <prefix>/share/doclayout/models/default next to an installed binary, else models/default of
 * the source tree a build directory sits in. */
const char *dl_cli_default_model(void);

#endif
