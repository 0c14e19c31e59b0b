// Persistent worker pool: the only threading primitive of the kernels. No global state; several pools
// may live in one process. The thread that calls lk_pool_run takes part as thread 0.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lk_pool lk_pool;

/// A task: called once per pool thread with that thread's index in [0, n_threads).
typedef void (*lk_task_fn)(void *ctx, int thread_index, int n_threads);

/// Creates a pool of `n_threads` threads (values < 1 count as 1): the caller of lk_pool_run plus
/// n_threads - 1 persistent workers. `cpus` (nullable) holds n_threads CPU ids: worker i is pinned to
/// cpus[i] (pthread_setaffinity_np); thread 0, the calling thread, runs each task pinned to cpus[0]
/// and gets its own affinity mask back when lk_pool_run returns. Also limits OpenBLAS to one thread (the pool does the threading).
/// Returns NULL when threads cannot be created.
lk_pool *lk_pool_create(int n_threads, const int *cpus);
/// Stops and joins the workers and frees the pool. NULL is ignored.
void lk_pool_destroy(lk_pool *p);
/// Number of threads (including the caller); 1 for NULL.
int lk_pool_size(const lk_pool *p);
/// Runs fn(ctx, i, n) for every i in [0, n) (i = 0 on the calling thread) and returns when all are done.
/// p == NULL runs fn(ctx, 0, 1) inline. Calls on one pool from several threads are serialized;
/// calling lk_pool_run from inside a task of the same pool runs that inner task inline on the caller.
void lk_pool_run(lk_pool *p, lk_task_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
