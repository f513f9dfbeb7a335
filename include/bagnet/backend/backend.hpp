#pragma once
// Backends are types, chosen at compile time (as Eigen's devices are): a model
// is written once and each backend specialises Executor<Backend> to run it.
#include <cstddef>
#include <string>
#include <utility>

#include "bagnet/config.hpp"
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

// What a compiled forward pass returns: N x classes, or N x H' x W' x classes.
enum class Output { logits, logit_map };

inline const char* to_string(Precision p) { return p == Precision::fp32 ? "fp32" : "bf16"; }

// How many input pixels one batched pass over many crops holds on the backend's device.
template <class Backend>
struct batch_pixels {
    static constexpr std::size_t value = config::host_batch_pixels;
};
template <>
struct batch_pixels<cuda> {
    static constexpr std::size_t value = config::gpu_batch_pixels;
};

// Runs `work`, reporting a failure of the backend's own library as bagnet::Error,
// so that callers catch one type. A backend whose library throws exceptions of its
// own specialises it (oneDNN's dnnl::error; the CUDA backend checks status codes
// where they are returned and throws bagnet::Error itself).
template <class Backend>
struct BackendErrors {
    template <class Work>
    static decltype(auto) reported(Work&& work) {
        return work();
    }
};
template <class Backend, class Work>
decltype(auto) with_backend_errors(Work&& work) {
    return BackendErrors<Backend>::reported(std::forward<Work>(work));
}

// Runs a model's inference on one backend. Each backend specialises it.
template <class Backend>
class Executor {
    static_assert(sizeof(Backend) == 0,
                  "bagnet: no executor for this backend (include its header, e.g. bagnet/backend/cpu/executor.hpp)");
};

}  // namespace bagnet
