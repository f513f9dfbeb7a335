#pragma once
// Definitions for errors.hpp, which includes this file when header-only; bagnet::compiled
// compiles them once (bagnet/instances.hpp). Included nowhere else.
#include <dnnl.hpp>

#include <string>

#include "bagnet/error.hpp"

namespace bagnet::backend::cpu {

BAGNET_INLINE void rethrow_as_error() {
    try {
        throw;
    } catch (const dnnl::error& e) {
        throw Error(std::string("oneDNN failed: ") + e.what() + " (status " + std::to_string(int(e.status)) + ")");
    }
}

}  // namespace bagnet::backend::cpu
