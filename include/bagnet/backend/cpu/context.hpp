#pragma once
// One oneDNN CPU engine and stream per process, and the rules for small work.
#include <dnnl.hpp>
#include <omp.h>

#include <cstddef>
#include <string>

#include "bagnet/backend/backend.hpp"
#include "bagnet/backend/cpu/errors.hpp"
#include "bagnet/backend/cpu/machine.hpp"
#include "bagnet/config.hpp"
#include "bagnet/error.hpp"

namespace bagnet::backend::cpu {

struct Context {
    dnnl::engine engine{dnnl::engine::kind::cpu, 0};
    dnnl::stream stream{engine};

    static Context& get() {
        static Context context;
        return context;
    }
};

// Runs the oneDNN work of its lifetime on the calling thread alone when `on` (the
// OpenMP team size of this thread, which oneDNN's kernels read when they run).
// For small work: waking the other threads costs more than it saves, and far more
// when another process holds a core and every parallel region waits for a thread
// to be scheduled (tens of milliseconds for a reorder of a few hundred bytes).
class SerialIf {
public:
    explicit SerialIf(bool on) : threads_(omp_get_max_threads()), serial_(on) {
        if (serial_) omp_set_num_threads(1);
    }
    ~SerialIf() {
        if (serial_) omp_set_num_threads(threads_);
    }
    SerialIf(const SerialIf&) = delete;
    SerialIf& operator=(const SerialIf&) = delete;

private:
    const int threads_;
    const bool serial_;
};

// What counts as small work for SerialIf: a reorder of at most this many bytes.
using config::serial_reorder_bytes;

}  // namespace bagnet::backend::cpu
