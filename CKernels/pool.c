// Persistent worker pool (see lk_pool.h). Workers spin briefly on a generation counter, then sleep on a
// condition variable; the caller runs thread 0's share and waits the same way for the others.
#include "lk_pool.h"
#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#define LK_POOL_SPINS 4000  // pause iterations before sleeping (~ 100 microseconds)

typedef struct lk_worker {
    struct lk_pool *pool;
    int index;
    pthread_t thread;
} lk_worker;

struct lk_pool {
    int n;
    int *cpus;                 // [n] or NULL
    lk_worker *workers;        // [n - 1]: workers[i - 1] is thread i
    pthread_mutex_t mu;        // guards sleeping/waking
    pthread_cond_t start_cv, done_cv;
    pthread_mutex_t run_mu;    // serializes lk_pool_run callers
    _Atomic uint64_t gen;      // bumped once per run
    _Atomic int pending;       // workers still running the current task
    _Atomic int stop;
    lk_task_fn fn;
    void *ctx;
};

static _Thread_local const lk_pool *lk_pool_current; // pool whose task this thread is running

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static void pin_self(int cpu) {
#if defined(__linux__)
    if (cpu < 0 || cpu >= CPU_SETSIZE) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
#else
    (void)cpu;
#endif
}

// The caller (thread 0) runs a pinned pool's task on cpus[0] and gets its own affinity mask back
// afterwards: a run never changes an application thread's affinity for good.
typedef struct {
#if defined(__linux__)
    cpu_set_t saved;
#endif
    int ok;
} lk_caller_pin;

static lk_caller_pin pin_caller(const lk_pool *p) {
    lk_caller_pin c = {0};
#if defined(__linux__)
    if (pthread_getaffinity_np(pthread_self(), sizeof c.saved, &c.saved) == 0) {
        c.ok = 1;
        pin_self(p->cpus[0]);
    }
#else
    (void)p;
#endif
    return c;
}

static void unpin_caller(const lk_caller_pin *c) {
#if defined(__linux__)
    if (c->ok) (void)pthread_setaffinity_np(pthread_self(), sizeof c->saved, &c->saved);
#else
    (void)c;
#endif
}

static void *worker_main(void *arg) {
    lk_worker *w = (lk_worker *)arg;
    lk_pool *p = w->pool;
    if (p->cpus) pin_self(p->cpus[w->index]);
    uint64_t seen = 0;
    for (;;) {
        uint64_t g = atomic_load_explicit(&p->gen, memory_order_acquire);
        for (int s = 0; g == seen && s < LK_POOL_SPINS; s++) {
            cpu_relax();
            g = atomic_load_explicit(&p->gen, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen) pthread_cond_wait(&p->start_cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        seen = g;
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
        lk_pool_current = p;
        p->fn(p->ctx, w->index, p->n);
        lk_pool_current = NULL;
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static void wake_all(lk_pool *p) {
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_acq_rel);
    pthread_cond_broadcast(&p->start_cv);
    pthread_mutex_unlock(&p->mu);
}

lk_pool *lk_pool_create(int n_threads, const int *cpus) {
    if (n_threads < 1) n_threads = 1;
    openblas_set_num_threads(1);
    lk_pool *p = (lk_pool *)calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n_threads;
    if (cpus) {
        p->cpus = (int *)malloc(sizeof(int) * (size_t)n_threads);
        if (!p->cpus) { free(p); return NULL; }
        for (int i = 0; i < n_threads; i++) p->cpus[i] = cpus[i];
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->run_mu, NULL);
    pthread_cond_init(&p->start_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->stop, 0);
    p->workers = n_threads > 1 ? (lk_worker *)calloc((size_t)(n_threads - 1), sizeof(lk_worker)) : NULL;
    if (n_threads > 1 && !p->workers) { free(p->cpus); free(p); return NULL; }
    for (int i = 1; i < n_threads; i++) {
        lk_worker *w = &p->workers[i - 1];
        w->pool = p;
        w->index = i;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            p->n = i; // stop and join the ones already started
            lk_pool_destroy(p);
            return NULL;
        }
    }
    return p;
}

void lk_pool_destroy(lk_pool *p) {
    if (!p) return;
    atomic_store_explicit(&p->stop, 1, memory_order_release);
    wake_all(p);
    for (int i = 1; i < p->n; i++) pthread_join(p->workers[i - 1].thread, NULL);
    pthread_cond_destroy(&p->start_cv);
    pthread_cond_destroy(&p->done_cv);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->run_mu);
    free(p->workers);
    free(p->cpus);
    free(p);
}

int lk_pool_size(const lk_pool *p) { return p ? p->n : 1; }

void lk_pool_run(lk_pool *p, lk_task_fn fn, void *ctx) {
    if (!p || p->n == 1 || lk_pool_current == p) {
        // NULL pool, single thread, or a nested call from inside one of this pool's tasks.
        int pin = p && p->cpus && lk_pool_current != p;
        lk_caller_pin c = {0};
        if (pin) c = pin_caller(p);
        fn(ctx, 0, 1);
        if (pin) unpin_caller(&c);
        return;
    }
    pthread_mutex_lock(&p->run_mu);
    lk_caller_pin caller = {0};
    if (p->cpus) caller = pin_caller(p);
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_release);
    wake_all(p);
    lk_pool_current = p;
    fn(ctx, 0, p->n);
    lk_pool_current = NULL;
    for (int s = 0; atomic_load_explicit(&p->pending, memory_order_acquire) != 0 && s < LK_POOL_SPINS; s++) cpu_relax();
    if (atomic_load_explicit(&p->pending, memory_order_acquire) != 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load_explicit(&p->pending, memory_order_acquire) != 0) pthread_cond_wait(&p->done_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    if (p->cpus) unpin_caller(&caller);
    pthread_mutex_unlock(&p->run_mu);
}
