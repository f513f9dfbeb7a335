#pragma once
// One oneDNN CPU engine and stream per process, and the thread count knob.
#include <dnnl.hpp>
#include <omp.h>

#include <cstddef>
#include <string>

#include "bagnet/backend/backend.hpp"
#include "bagnet/config.hpp"
#include "bagnet/error.hpp"

namespace bagnet::onednn {

struct Context {
    dnnl::engine engine{dnnl::engine::kind::cpu, 0};
    dnnl::stream stream{engine};

    static Context& get() {
        static Context context;
        return context;
    }
};

// oneDNN's Debian build threads with OpenMP, so its pool size is OpenMP's.
inline void set_threads(int threads) {
    const int cores = config::machine_cores();
    require(threads >= 1 && threads <= cores, "the thread count must be between 1 and " + std::to_string(cores) +
                                                  " (the cores of this machine), got " + std::to_string(threads));
    omp_set_num_threads(threads);
}

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

inline bool cpu_has_bf16() {
    const auto isa = dnnl::get_effective_cpu_isa();
    return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

// The instruction set oneDNN dispatches to (at most ONEDNN_MAX_CPU_ISA), for reports:
// speed differs several-fold between them.
inline std::string cpu_isa_name() {
    switch (dnnl::get_effective_cpu_isa()) {
        case dnnl::cpu_isa::sse41: return "SSE4.1";
        case dnnl::cpu_isa::avx: return "AVX";
        case dnnl::cpu_isa::avx2: return "AVX2";
        case dnnl::cpu_isa::avx2_vnni: return "AVX2 with VNNI";
        case dnnl::cpu_isa::avx512_core: return "AVX-512";
        case dnnl::cpu_isa::avx512_core_vnni: return "AVX-512 with VNNI";
        case dnnl::cpu_isa::avx512_core_bf16: return "AVX-512 with bf16";
        case dnnl::cpu_isa::avx512_core_amx: return "AVX-512 with AMX";
        default: return "another instruction set";
    }
}

}  // namespace bagnet::onednn

namespace bagnet {

// oneDNN throws dnnl::error (an unsupported shape, a failed allocation inside a
// primitive); the cpu backend's callers see it as bagnet::Error.
template <>
struct BackendErrors<cpu> {
    template <class Work>
    static decltype(auto) reported(Work&& work) {
        try {
            return work();
        } catch (const dnnl::error& e) {
            throw Error(std::string("oneDNN failed: ") + e.what() + " (status " + std::to_string(int(e.status)) + ")");
        }
    }
};

}  // namespace bagnet
