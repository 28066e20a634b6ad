#define _GNU_SOURCE
#include "core/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

/*
 * Hand-off between jobs: a worker that finished a job spins (CPU_RELAX) for up to SPIN_NS on
 * the job counter before it sleeps on the condition variable, and so does the caller waiting
 * for the workers. A network issues hundreds of short parallel-fors per image; sleeping and
 * waking through the kernel between each cost tens of microseconds apiece. The spin is
 * bounded, so idle pools sleep.
 */
#define SPIN_NS 100000 /* 0.1 ms */

struct dl_threadpool {
    int size;
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t work_ready;
    pthread_cond_t work_done;
    /* the current job (written before `generation` is bumped, read after it is seen) */
    dl_task_fn fn;
    void *ctx;
    int n_tasks;
    atomic_int next_task;
    atomic_int generation; /* bumped per job so waiting workers know there is a new one */
    atomic_int busy;       /* workers still inside the current job */
    atomic_int stop;
    int sleepers;       /* workers blocked on work_ready (under lock) */
    int caller_waiting; /* the caller is blocked on work_done (under lock) */
};

typedef struct {
    dl_threadpool *pool;
    int index;
} worker_arg;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void run_tasks(dl_threadpool *p, int thread) {
    for (;;) {
        int t = atomic_fetch_add_explicit(&p->next_task, 1, memory_order_relaxed);
        if (t >= p->n_tasks) break;
        p->fn(p->ctx, t, thread);
    }
}

/* Spin until (*v != val) == differ, or stop is set (returns 1), or SPIN_NS pass (0). */
static int spin_until(atomic_int *v, int val, int differ, atomic_int *stop) {
    long long t0 = 0;
    for (int i = 1;; i++) {
        if ((atomic_load_explicit(v, memory_order_acquire) != val) == differ) return 1;
        if (stop && atomic_load_explicit(stop, memory_order_relaxed)) return 1;
        CPU_RELAX();
        if ((i & 63) == 0) {
            long long t = now_ns();
            if (t0 == 0) t0 = t;
            else if (t - t0 > SPIN_NS) return 0;
        }
    }
}

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    dl_threadpool *p = wa->pool;
    int index = wa->index;
    free(wa);
    int seen = 0;
    for (;;) {
        if (!spin_until(&p->generation, seen, 1, &p->stop)) {
            pthread_mutex_lock(&p->lock);
            p->sleepers++;
            while (!atomic_load(&p->stop) && atomic_load(&p->generation) == seen)
                pthread_cond_wait(&p->work_ready, &p->lock);
            p->sleepers--;
            pthread_mutex_unlock(&p->lock);
        }
        if (atomic_load(&p->stop)) break;
        seen = atomic_load_explicit(&p->generation, memory_order_acquire);
        run_tasks(p, index);
        if (atomic_fetch_sub_explicit(&p->busy, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->lock);
            if (p->caller_waiting) pthread_cond_signal(&p->work_done);
            pthread_mutex_unlock(&p->lock);
        }
    }
    return NULL;
}

int dl_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

dl_threadpool *dl_threadpool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    dl_threadpool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->size = 1;
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p);
        return NULL;
    }
    pthread_cond_init(&p->work_ready, NULL);
    pthread_cond_init(&p->work_done, NULL);
    if (n_threads > 1) {
        p->threads = calloc((size_t)n_threads - 1, sizeof *p->threads);
        if (!p->threads) {
            dl_threadpool_free(p);
            return NULL;
        }
        for (int i = 1; i < n_threads; i++) {
            worker_arg *wa = malloc(sizeof *wa);
            if (!wa) break;
            wa->pool = p;
            wa->index = i;
            if (pthread_create(&p->threads[i - 1], NULL, worker_main, wa) != 0) {
                free(wa);
                break;
            }
            p->size++;
        }
        if (p->size != n_threads) {
            dl_threadpool_free(p);
            return NULL;
        }
    }
    return p;
}

void dl_threadpool_free(dl_threadpool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->work_ready);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->size - 1; i++) pthread_join(p->threads[i], NULL);
    free(p->threads);
    pthread_cond_destroy(&p->work_ready);
    pthread_cond_destroy(&p->work_done);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

int dl_threadpool_size(const dl_threadpool *p) { return p ? p->size : 1; }

void dl_parallel_for(dl_threadpool *p, int n_tasks, dl_task_fn fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (!p || p->size == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store_explicit(&p->next_task, 0, memory_order_relaxed);
    atomic_store_explicit(&p->busy, p->size - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_mutex_lock(&p->lock);
    if (p->sleepers > 0) pthread_cond_broadcast(&p->work_ready);
    pthread_mutex_unlock(&p->lock);
    run_tasks(p, 0);
    if (!spin_until(&p->busy, 0, 0, NULL)) {
        pthread_mutex_lock(&p->lock);
        p->caller_waiting = 1;
        while (atomic_load_explicit(&p->busy, memory_order_acquire) != 0)
            pthread_cond_wait(&p->work_done, &p->lock);
        p->caller_waiting = 0;
        pthread_mutex_unlock(&p->lock);
    }
}
