/*
 * D-FINE (egret) network parity with transformers on the golden tiny models: dfine-tiny (HGNetV2
 * with learnable affine blocks, per-level points [3,6,3], encoder dim = d_model) and
 * dfine-tiny-proj (no affine blocks, encoder dim 48 != d_model 32: decoder input projection).
 * Final logits and boxes (max |diff|), every stage transformers returned when ../shared is
 * present (relative error), reference and fast ops, 1 vs 3 threads bit-identical.
 */
#include "golden_compare.h"

int main(void) {
    check_model("dfine-tiny", 15);
    check_model("dfine-tiny-proj", 15);
    return dl_test_finish("test_parity_dfine");
}
