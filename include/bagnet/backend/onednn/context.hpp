#pragma once
// One oneDNN CPU engine and stream per process, and the thread count knob.
#include <dnnl.hpp>
#include <omp.h>

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
    require(threads >= 1, "the thread count must be at least 1, got " + std::to_string(threads));
    omp_set_num_threads(threads);
}

inline bool cpu_has_bf16() {
    const auto isa = dnnl::get_effective_cpu_isa();
    return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

}  // namespace bagnet::onednn
