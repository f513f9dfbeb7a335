#pragma once
// The CPU the `cpu` backend runs on: its thread count and the instruction set oneDNN
// dispatches to. Declared apart from oneDNN's headers (machine_impl.hpp defines them), so
// that a program which sets threads and runs a model need not parse them.
#include <string>

#include "bagnet/instances.hpp"

namespace bagnet::backend::cpu {

// oneDNN's Debian build threads with OpenMP, so its pool size is OpenMP's: 1 to the cores of
// this machine, or a bagnet::Error.
BAGNET_INLINE void set_threads(int threads);

// Whether bf16 runs natively here (AVX512-BF16 or AMX).
BAGNET_INLINE bool cpu_has_bf16();

// The instruction set oneDNN dispatches to (at most ONEDNN_MAX_CPU_ISA), for reports:
// speed differs several-fold between them.
BAGNET_INLINE std::string cpu_isa_name();

}  // namespace bagnet::backend::cpu

#if !BAGNET_COMPILED
#include "bagnet/backend/cpu/machine_impl.hpp"
#endif
