#ifndef PARLEY_CZEROMQ_SHIM_H
#define PARLEY_CZEROMQ_SHIM_H
#include <zmq.h>
#include <errno.h>
#include <sys/eventfd.h>

/// A non-blocking, close-on-exec eventfd: the reactors' wake-up descriptor (EFD_* are macros Swift cannot see).
static inline int parley_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
#endif
