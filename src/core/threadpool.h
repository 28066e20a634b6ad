/* A fixed pool of worker threads running one parallel-for at a time.
 * Work is split into tasks by the caller, so results never depend on how many threads ran
 * them: each task must write a disjoint part of the output, in a fixed order of operations. */
#ifndef DL_CORE_THREADPOOL_H
#define DL_CORE_THREADPOOL_H

typedef struct dl_threadpool dl_threadpool;

/* task: 0..n_tasks-1; thread: 0..size-1 (for per-thread scratch). */
typedef void (*dl_task_fn)(void *ctx, int task, int thread);

/* `n_threads` counts the calling thread; 1 creates no workers. NULL on failure. */
dl_threadpool *dl_threadpool_create(int n_threads);
void dl_threadpool_free(dl_threadpool *pool);
int dl_threadpool_size(const dl_threadpool *pool); /* 1 for a NULL pool */

/* Run fn(ctx, t, thread) for every t in [0, n_tasks) and wait. A NULL pool runs serially. */
void dl_parallel_for(dl_threadpool *pool, int n_tasks, dl_task_fn fn, void *ctx);

/* Number of online CPUs (at least 1). */
int dl_cpu_count(void);

#endif
