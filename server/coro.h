/*
 * coro.h - a minimal stackful coroutine (ucontext), so that a pull-style parser can be fed
 * push-style from an event loop.
 *
 * The Helm index analyzer pulls its bytes through a read callback, and libyaml, under it,
 * cannot stop midway and resume later: running out of input is its end of file. The fetch
 * loop, though, receives each transfer's body in pieces, in callbacks on one event thread,
 * for hundreds of transfers at once. A coroutine gives every analysis a stack of its own: its
 * read callback yields back to the loop when the bytes received so far are used up, and the
 * loop resumes it when more arrive. The analyzer runs unchanged, at the speed it runs in the
 * CLI, and no thread is held by a slow transfer.
 *
 * A stack is mapped with a guard page below it; only the pages an analysis touches (a few
 * KiB) become resident. ASan and TSan are told about every switch (their fiber APIs).
 *
 * Thread safety: a coroutine is resumed by one thread at a time; it may be resumed from
 * different threads over its life (its body then runs on each in turn).
 */
#ifndef SRV_CORO_H
#define SRV_CORO_H

#include <stdbool.h>
#include <stddef.h>

#include "ocigate/err.h"

struct srv_coro;

/** The body of a coroutine: runs on the coroutine's stack until it returns. */
typedef void (*srv_coro_fn)(struct srv_coro *co, void *arg);

/**
 * Makes a coroutine that will run fn(co, arg) on a stack of `stack_size` bytes (rounded up to
 * pages; 0 gives 256 KiB). Nothing runs until srv_coro_resume(). OG_ENOMEM; on success `*out`
 * is freed with srv_coro_free().
 */
OG_NODISCARD enum og_err srv_coro_new(size_t stack_size, srv_coro_fn fn, void *arg,
                                      struct srv_coro **out);

/**
 * Runs the coroutine until it yields or its body returns. Returns true once the body has
 * returned (then never resume it again). Not from inside a coroutine.
 */
bool srv_coro_resume(struct srv_coro *co);

/** From the coroutine's body: goes back to the srv_coro_resume() that ran it. */
void srv_coro_yield(struct srv_coro *co);

/**
 * Frees the coroutine. Its body must have returned or never started: a suspended body's
 * frames would be dropped with whatever they own. NULL is a no-op.
 */
void srv_coro_free(struct srv_coro *co);

#endif
