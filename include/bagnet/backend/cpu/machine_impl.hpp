#pragma once
// Definitions for machine.hpp, which includes this file when header-only; bagnet::compiled
// compiles them once (bagnet/instances.hpp). Included nowhere else.
#include <dnnl.hpp>
#include <omp.h>

#include <string>

#include "bagnet/config.hpp"
#include "bagnet/error.hpp"

namespace bagnet::backend::cpu {

BAGNET_INLINE void set_threads(int threads) {
    const int cores = config::machine_cores();
    require(threads >= 1 && threads <= cores, "the thread count must be between 1 and " + std::to_string(cores) +
                                                  " (the cores of this machine), got " + std::to_string(threads));
    omp_set_num_threads(threads);
}

BAGNET_INLINE bool cpu_has_bf16() {
    const auto isa = dnnl::get_effective_cpu_isa();
    return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

BAGNET_INLINE std::string cpu_isa_name() {
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

}  // namespace bagnet::backend::cpu
