#pragma once
// oneDNN throws dnnl::error (an unsupported shape, a failed allocation inside a
// primitive); the cpu backend's callers see it as bagnet::Error. Declared apart from
// oneDNN's headers, so that code which only runs a model need not parse them.
#include "bagnet/backend/backend.hpp"
#include "bagnet/instances.hpp"

namespace bagnet {
namespace backend::cpu {
// Rethrows the exception being handled: a dnnl::error as bagnet::Error, anything else as it is.
[[noreturn]] BAGNET_INLINE void rethrow_as_error();
}  // namespace backend::cpu

template <>
struct BackendErrors<cpu> {
    template <class Work>
    static decltype(auto) reported(Work&& work) {
        try {
            return work();
        } catch (...) {
            backend::cpu::rethrow_as_error();
        }
    }
};

}  // namespace bagnet

#if !BAGNET_COMPILED
#include "bagnet/backend/cpu/errors_impl.hpp"
#endif
