#pragma once
// Backends are types, chosen at compile time (as Eigen's devices are): a model
// is written once and each backend specialises Executor<Backend> to run it.
#include <string>

#include "bagnet/error.hpp"

namespace bagnet {

struct reference {};  // plain Eigen loops: slow, obviously right; the tests' yardstick
struct cpu {};        // oneDNN primitives with folded batch norm and fused post-ops
struct cuda {};       // cuDNN and cuBLAS (needs -DBAGNET_WITH_CUDA=ON)

enum class Precision { fp32, bf16 };

inline Precision parse_precision(const std::string& text) {
    if (text == "fp32") return Precision::fp32;
    if (text == "bf16") return Precision::bf16;
    throw Error("unknown precision '" + text + "' (expected fp32 or bf16)");
}

inline const char* to_string(Precision p) { return p == Precision::fp32 ? "fp32" : "bf16"; }

// Runs a model's inference on one backend. Each backend specialises it.
template <class Backend>
class Executor {
    static_assert(sizeof(Backend) == 0,
                  "bagnet: no executor for this backend (include its header, e.g. bagnet/backend/onednn/executor.hpp)");
};

}  // namespace bagnet
