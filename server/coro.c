#include "coro.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define CORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORO_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define CORO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CORO_TSAN 1
#endif
#endif

#ifdef CORO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef CORO_TSAN
#include <sanitizer/tsan_interface.h>
#endif

struct srv_coro {
    ucontext_t ctx;    /* the coroutine's */
    ucontext_t caller; /* the srv_coro_resume() that runs it */
    srv_coro_fn fn;
    void *arg;
    char *map; /* guard page + stack */
    size_t map_len;
    bool started, done;
#ifdef CORO_ASAN
    void *fake_stack;         /* the coroutine's, while it is switched out */
    const void *caller_stack; /* the resumer's stack, for the switch back */
    size_t caller_size;
#endif
#ifdef CORO_TSAN
    void *fiber, *caller_fiber;
#endif
};

#ifdef CORO_ASAN
/*
 * swapcontext() as getcontext() + setcontext(): ASan intercepts swapcontext() only to print
 * that it cannot follow it, once per process, on stderr - where the daemon's log lines go.
 * The fiber annotations around every switch tell it what it needs. `back` lives in this
 * frame, on the stack being left, which stays untouched until it is resumed here.
 */
static void swap(ucontext_t *from, const ucontext_t *to)
{
    volatile bool back = false;

    if (getcontext(from) != 0 || back)
        return;
    back = true;
    (void)setcontext(to);
}
#else
/*
 * A macro, not a function: under TSan a function's entry would be recorded on one fiber's
 * shadow stack and its exit on the other's. (Cannot fail with contexts made by getcontext()
 * and makecontext().)
 */
#define swap(from, to) ((void)swapcontext((from), (to)))
#endif

/* makecontext() passes int arguments only: the pointer travels in two halves. */
static void trampoline(unsigned hi, unsigned lo)
{
    struct srv_coro *co = (struct srv_coro *)(uintptr_t)(((uint64_t)hi << 32) | (uint64_t)lo);

#ifdef CORO_ASAN
    __sanitizer_finish_switch_fiber(NULL, &co->caller_stack, &co->caller_size);
#endif
    co->fn(co, co->arg);
    co->done = true;
#ifdef CORO_ASAN
    /* Leaving for good: NULL lets ASan drop this stack's fake frames. */
    __sanitizer_start_switch_fiber(NULL, co->caller_stack, co->caller_size);
#endif
#ifdef CORO_TSAN
    __tsan_switch_to_fiber(co->caller_fiber, 0);
#endif
    /*
     * Back to the resumer without returning: a return would run this function's exit (for
     * TSan, a pop of its shadow stack) after the switch, on the resumer's side.
     */
    (void)setcontext(&co->caller);
}

enum og_err srv_coro_new(size_t stack_size, srv_coro_fn fn, void *arg, struct srv_coro **out)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t pg = page > 0 ? (size_t)page : 4096u;
    struct srv_coro *co;
    uint64_t p;

    if (stack_size == 0)
        stack_size = 256u * 1024u;
    if (stack_size > SIZE_MAX / 2)
        return OG_ENOMEM;
    stack_size = (stack_size + pg - 1) / pg * pg;
    co = calloc(1, sizeof(*co));
    if (co == NULL)
        return OG_ENOMEM;
    co->map_len = stack_size + pg;
    co->map = mmap(NULL, co->map_len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (co->map == MAP_FAILED) {
        free(co);
        return OG_ENOMEM;
    }
    /* Stacks grow down: an overflow faults on the guard page instead of corrupting memory. */
    if (mprotect(co->map, pg, PROT_NONE) != 0 || getcontext(&co->ctx) != 0) {
        munmap(co->map, co->map_len);
        free(co);
        return OG_ENOMEM;
    }
    co->fn = fn;
    co->arg = arg;
    co->ctx.uc_stack.ss_sp = co->map + pg;
    co->ctx.uc_stack.ss_size = stack_size;
    co->ctx.uc_link = &co->caller;
    p = (uint64_t)(uintptr_t)co;
    makecontext(&co->ctx, (void (*)(void))trampoline, 2, (unsigned)(p >> 32),
                (unsigned)(p & 0xffffffffu));
#ifdef CORO_TSAN
    co->fiber = __tsan_create_fiber(0);
#endif
    *out = co;
    return OG_OK;
}

bool srv_coro_resume(struct srv_coro *co)
{
#ifdef CORO_ASAN
    void *fake = NULL;
#endif

    if (co->done)
        return true;
    co->started = true;
#ifdef CORO_TSAN
    co->caller_fiber = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(co->fiber, 0);
#endif
#ifdef CORO_ASAN
    __sanitizer_start_switch_fiber(&fake, co->ctx.uc_stack.ss_sp, co->ctx.uc_stack.ss_size);
#endif
    swap(&co->caller, &co->ctx);
#ifdef CORO_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
    return co->done;
}

void srv_coro_yield(struct srv_coro *co)
{
#ifdef CORO_ASAN
    __sanitizer_start_switch_fiber(&co->fake_stack, co->caller_stack, co->caller_size);
#endif
#ifdef CORO_TSAN
    __tsan_switch_to_fiber(co->caller_fiber, 0);
#endif
    swap(&co->ctx, &co->caller);
#ifdef CORO_ASAN
    /* Resumed, maybe from another stack than last time. */
    __sanitizer_finish_switch_fiber(co->fake_stack, &co->caller_stack, &co->caller_size);
#endif
}

void srv_coro_free(struct srv_coro *co)
{
    if (co == NULL)
        return;
#ifdef CORO_TSAN
    __tsan_destroy_fiber(co->fiber);
#endif
#ifdef CORO_ASAN
    /* Redzones of the frames that ran here must not outlive the mapping. */
    __asan_unpoison_memory_region(co->ctx.uc_stack.ss_sp, co->ctx.uc_stack.ss_size);
#endif
    munmap(co->map, co->map_len);
    free(co);
}
