/* The op registry: the table of ops/op_list.h, lookups, and the reference fallback. */
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

#define DL_OP(name) extern const dl_op_info dl_op_##name;
#include "ops/op_list.h"
#undef DL_OP

static const dl_op_info *const op_table[DL_OP_COUNT] = {
#define DL_OP(name) &dl_op_##name,
#include "ops/op_list.h"
#undef DL_OP
};

const dl_op_info *dl_op_info_of(dl_op_id id) {
    return (unsigned)id < DL_OP_COUNT ? op_table[id] : NULL;
}

dl_op_kernel dl_ops_find(const dl_ops *ops, dl_op_id id) {
    const dl_op_info *info = dl_op_info_of(id);
    if (!ops || !info || !ops->find_kernel) return NULL;
    return ops->find_kernel(info->name);
}

bool dl_op_fallback(const dl_ops *ops, dl_ops_ctx *ctx, dl_op_id id, const dl_op_args *a,
                    float **staging, size_t *staging_floats) {
    const dl_op_info *info = dl_op_info_of(id);
    if (!info) return false;
    dl_ops_ctx host = {ctx->pool, NULL, 0, NULL};
    if (!ops->device) {
        info->reference(&host, a);
        return true;
    }
    int nt = info->n_in + info->n_out;
    size_t total = 0;
    for (int k = 0; k < nt; k++) total += (a->n[k] + 15) / 16 * 16;
    if (total > *staging_floats) {
        float *p = realloc(*staging, total * sizeof(float));
        if (!p) return false;
        *staging = p;
        *staging_floats = total;
    }
    dl_op_args h = *a;
    size_t at = 0;
    for (int k = 0; k < nt; k++) {
        h.t[k] = *staging + at;
        at += (a->n[k] + 15) / 16 * 16;
        bool read = k < info->n_in || (info->inout >> (k - info->n_in) & 1u);
        if (read && a->n[k]) ops->download(ctx, h.t[k], a->t[k], a->n[k] * sizeof(float));
    }
    info->reference(&host, &h);
    for (int k = info->n_in; k < nt; k++)
        if (a->n[k]) ops->upload(ctx, a->t[k], h.t[k], a->n[k] * sizeof(float));
    return true;
}
