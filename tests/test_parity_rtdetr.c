/*
 * RT-DETRv2 network parity with transformers on the golden tiny models: final logits and boxes
 * (max |diff|), and, when ../shared is present, every stage transformers returned (relative
 * error), named when it fails. Runs with the scalar reference ops and with the fast CPU ops,
 * and checks that the fast path gives bit-identical results with 1 and 3 threads.
 */
#include "golden_compare.h"

int main(void) {
    check_model("rtdetrv2-tiny", 15);
    check_model("rtdetrv2-tiny-480", 15);
    return dl_test_finish("test_parity_rtdetr");
}
