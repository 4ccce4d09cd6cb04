// Preloaded into the broker when it runs under valgrind (bench/broker-instructions.py): valgrind 3.19 crashes
// on the rt_sigsuspend that libdispatch's dispatch_main() parks the main thread in (an async Swift main). This
// parks it in pause() instead, which valgrind handles; signals still end the wait and run their handlers.
#include <signal.h>
#include <unistd.h>

int sigsuspend(const sigset_t *mask) {
    (void)mask;
    for (;;) pause();
}
