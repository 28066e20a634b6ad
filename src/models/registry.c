/* The table of architectures (see models/registry.h). */
#include "models/registry.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"

/* One line per architecture: the descriptor its src/models/<arch>.c defines. */
#define DL_ARCHITECTURES(X)                                                                        \
    X(dl_arch_rtdetr_v2)                                                                           \
    X(dl_arch_dfine)                                                                               \
    X(dl_arch_dense)

#define DL_ARCH_DECLARE(name) extern const dl_arch name;
DL_ARCHITECTURES(DL_ARCH_DECLARE)
#define DL_ARCH_ENTRY(name) &name,
static const dl_arch *const archs[] = {DL_ARCHITECTURES(DL_ARCH_ENTRY)};
#define N_ARCHS (sizeof archs / sizeof archs[0])

/* model_types that are known but refused: what they are and what to use instead. */
static const struct {
    const char *model_type, *what, *instead;
} retired[] = {
    {"rt_detr", "RT-DETR v1, Docling's retired layout model", "use heron (rt_detr_v2)"},
};

size_t dl_arch_count(void) { return N_ARCHS; }

const dl_arch *dl_arch_at(size_t i) { return i < N_ARCHS ? archs[i] : NULL; }

const dl_arch *dl_arch_find(const char *model_type, dl_error *err) {
    for (size_t i = 0; i < N_ARCHS; i++)
        if (strcmp(archs[i]->model_type, model_type) == 0) return archs[i];
    for (size_t i = 0; i < sizeof retired / sizeof retired[0]; i++)
        if (strcmp(retired[i].model_type, model_type) == 0) {
            dl_fail(err, DL_ERR_UNSUPPORTED,
                    "config.json: model_type \"%s\" (%s) is not supported; %s", model_type,
                    retired[i].what, retired[i].instead);
            return NULL;
        }
    char names[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < N_ARCHS && used < sizeof names; i++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                                 archs[i]->model_type);
    dl_fail(err, DL_ERR_UNSUPPORTED, "config.json: unknown model_type \"%s\" (supported: %s)",
            model_type, names);
    return NULL;
}
