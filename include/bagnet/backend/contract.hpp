#pragma once
// What a backend provides, stated in code and checked when a Model of it is made:
//   - a tag type (backend/backend.hpp) and its folder backend/<tag>/;
//   - Executor<Backend>, the inference (checked here):
//       Tensor2 logits(arch, params, x, Precision)      N x classes
//       Tensor4 logit_map(arch, params, x, Precision)   N x H' x W' x classes
//       void invalidate()                               drop what was derived from the parameters
//     and, where it has them, the capabilities the analyses probe for: crop_logit_maps
//     (explain/heatmap.hpp) and `static constexpr bool checks_finiteness` (inference.hpp);
//   - TrainingOps<Backend>, the layers for training (layers/contract.hpp, checked there);
//   - where its library throws its own exceptions, BackendErrors<Backend>; where its device
//     holds batches of another size, batch_pixels<Backend> (backend/backend.hpp).
#include "bagnet/arch.hpp"
#include "bagnet/backend/backend.hpp"
#include "bagnet/detect.hpp"
#include "bagnet/parameters.hpp"
#include "bagnet/tensor.hpp"

namespace bagnet::executor_contract {
using detect::a;

BAGNET_DETECT_CALL(has_logits, logits, a<const Architecture>(), a<const Parameters>(), a<const Tensor4>(), Precision::fp32)
BAGNET_DETECT_CALL(has_logit_map, logit_map, a<const Architecture>(), a<const Parameters>(), a<const Tensor4>(),
                   Precision::fp32)
BAGNET_DETECT_CALL(has_invalidate, invalidate, )

template <class E>
constexpr bool satisfied = has_logits<E>::value && has_logit_map<E>::value && has_invalidate<E>::value;

// Fails the build with the first missing member named.
template <class E>
constexpr bool check() {
    static_assert(has_logits<E>::value,
                  "bagnet backend contract: Executor<Backend> lacks logits(arch, params, const Tensor4&, Precision)");
    static_assert(has_logit_map<E>::value,
                  "bagnet backend contract: Executor<Backend> lacks logit_map(arch, params, const Tensor4&, Precision)");
    static_assert(has_invalidate<E>::value, "bagnet backend contract: Executor<Backend> lacks invalidate()");
    return true;
}
}  // namespace bagnet::executor_contract
