/* A monotonic clock in seconds, for timings (benchmarks, the GEMM probe, page statistics). */
#ifndef DL_CORE_CLOCK_H
#define DL_CORE_CLOCK_H

#include <time.h>

static inline double dl_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
