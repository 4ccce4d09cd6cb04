#ifndef PARLEY_CZEROMQ_SHIM_H
#define PARLEY_CZEROMQ_SHIM_H
#include <zmq.h>
#include <errno.h>
#include <sys/eventfd.h>
#include <malloc.h>
#include <sys/syscall.h>
#include <unistd.h>

/// A non-blocking, close-on-exec eventfd: the reactors' wake-up descriptor (EFD_* are macros Swift cannot see).
static inline int parley_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

/// Bytes the allocator holds free in its arenas (glibc `mallinfo2().fordblks`): memory freed but not returned.
static inline size_t parley_malloc_free_bytes(void) { return mallinfo2().fordblks; }
/// Returns free arena memory to the system (glibc `malloc_trim(0)`).
static inline void parley_malloc_trim(void) { malloc_trim(0); }
/// Allocates `length` bytes of `fd` from `offset` without changing its size (fallocate FALLOC_FL_KEEP_SIZE, which
/// Swift's Glibc does not export): later writes there cannot fail for want of space. -1 with errno on failure.
static inline int parley_reserve_space(int fd, long long offset, long long length) {
    return (int)syscall(SYS_fallocate, fd, 0x01 /* FALLOC_FL_KEEP_SIZE */, offset, length);
}

/// Defined only by the libzmq deps/libzmq/build.sh builds (io-error-guard.patch); a weak reference stays NULL with
/// a stock libzmq, which a peer resetting a stopped connection can abort.
extern int parley_zmq_io_error_guard(void) __attribute__((weak));
static inline int parley_zmq_has_io_error_guard(void) { return parley_zmq_io_error_guard != 0; }
/// Defined only by the deps/libzmq/build.sh builds (queue-budgets.patch): byte budgets per connection queue and the
/// XPUB subscription limit per connection.
extern int parley_zmq_queue_budgets(void) __attribute__((weak));
static inline int parley_zmq_has_queue_budgets(void) { return parley_zmq_queue_budgets != 0; }
#endif
