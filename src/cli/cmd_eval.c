/* `doclayout eval`: the evaluator lives in the core (src/eval/), shared with tools/coco_eval. */
#include "cli/cmd_eval.h"

#include "eval/coco_eval.h"

int dl_cli_eval(int argc, char **argv) { return dl_eval_main(argc, argv); }
