/* coco_eval: the evaluator of `doclayout eval` as a standalone program.
 *   coco_eval [--gt-map publaynet] [--json] GT.json DETECTIONS.json */
#include "eval/coco_eval.h"

int main(int argc, char **argv) { return dl_eval_main(argc, argv); }
