#pragma once
// A request to stop training at the next step boundary: set from a signal handler or
// another thread, polled by train::fit between steps (FitOptions::stopping_on). The
// library installs no handler itself: which signals mean "stop" is the program's choice.
#include <atomic>

namespace bagnet::train {

class StopRequest {
public:
    // Async-signal-safe: one store to a lock-free atomic.
    void request() noexcept { requested_.store(true, std::memory_order_relaxed); }
    bool requested() const noexcept { return requested_.load(std::memory_order_relaxed); }

private:
    static_assert(std::atomic<bool>::is_always_lock_free, "a signal handler may only set a lock-free atomic");
    std::atomic<bool> requested_{false};
};

}  // namespace bagnet::train
