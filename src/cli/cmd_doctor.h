/* `doclayout doctor`: what this machine offers doclayout, and whether each backend works. */
#ifndef DL_CLI_CMD_DOCTOR_H
#define DL_CLI_CMD_DOCTOR_H

/*
 * argv[0] is "doctor". Prints a text report (or JSON with --json) of the CPU and its features,
 * the kernels in use, cores and memory; the CUDA module, runtime, driver and GPUs; the models
 * found; and a self-test of a tiny model on every available backend, compared with the scalar
 * reference. Returns 0 when healthy, 1 when a requested backend is broken (each failure is
 * printed with its known fix), 2 on a usage error.
 */
int dl_cli_doctor(int argc, char **argv);

#endif
