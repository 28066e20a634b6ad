/*
 * Every op of the registry, one line each: DL_OP(name) for a file src/ops/op_name.c that
 * defines `const dl_op_info dl_op_name`. Included with DL_OP defined by the includer
 * (ops/ops.h for the ids, ops/op_registry.c for the table). Order does not matter to backends
 * (they look ops up by name); append new lines at the end.
 */
DL_OP(fill)
DL_OP(clamp)
DL_OP(affine)
DL_OP(concat_cols)
DL_OP(pad2d)
DL_OP(gate_mix)
DL_OP(add_row_scalar)
DL_OP(fdr_boxes)
DL_OP(lqe_stats)
DL_OP(dense_decode)
