/* `doclayout eval`: COCO-style evaluation of detections against ground truth. */
#ifndef DL_CLI_CMD_EVAL_H
#define DL_CLI_CMD_EVAL_H

/* argv[0] is "eval"; returns the exit status (0 ok, 1 error, 2 usage). */
int dl_cli_eval(int argc, char **argv);

#endif
