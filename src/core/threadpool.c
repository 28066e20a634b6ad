#define _GNU_SOURCE
#include "core/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct dl_threadpool {
    int size;
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t work_ready;
    pthread_cond_t work_done;
    /* the current job */
    dl_task_fn fn;
    void *ctx;
    int n_tasks;
    atomic_int next_task;
    int generation;  /* bumped per job so sleeping workers know there is a new one */
    int busy;        /* workers still inside the current job */
    int stop;
};

typedef struct {
    dl_threadpool *pool;
    int index;
} worker_arg;

static void run_tasks(dl_threadpool *p, int thread) {
    for (;;) {
        int t = atomic_fetch_add_explicit(&p->next_task, 1, memory_order_relaxed);
        if (t >= p->n_tasks) break;
        p->fn(p->ctx, t, thread);
    }
}

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    dl_threadpool *p = wa->pool;
    int index = wa->index;
    free(wa);
    int seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->generation == seen) pthread_cond_wait(&p->work_ready, &p->lock);
        if (p->stop) break;
        seen = p->generation;
        pthread_mutex_unlock(&p->lock);
        run_tasks(p, index);
        pthread_mutex_lock(&p->lock);
        if (--p->busy == 0) pthread_cond_signal(&p->work_done);
    }
    pthread_mutex_unlock(&p->lock);
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
    p->stop = 1;
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
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store(&p->next_task, 0);
    p->busy = p->size - 1;
    p->generation++;
    pthread_cond_broadcast(&p->work_ready);
    pthread_mutex_unlock(&p->lock);
    run_tasks(p, 0);
    pthread_mutex_lock(&p->lock);
    while (p->busy > 0) pthread_cond_wait(&p->work_done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}
