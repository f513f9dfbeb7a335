#pragma once
// Definitions for executor.hpp, which includes this file when header-only; bagnet::compiled
// compiles them once (bagnet/instances.hpp). Included nowhere else.
#include "bagnet/backend/cpu/inference_plan.hpp"
#include "bagnet/backend/planned_executor.hpp"

namespace bagnet {
namespace backend::cpu {
class PlanCache : public PlannedExecutor<PlanCache, InferencePlan> {
public:
    InferencePlan make_plan(const Architecture& arch, const Parameters& params, const std::array<int, 4>& input_shape,
                            Precision precision, Output output) {
        return InferencePlan(arch, params, input_shape, precision, output);
    }
};
}  // namespace backend::cpu

BAGNET_INLINE Executor<cpu>::Executor() : plans_(std::make_unique<backend::cpu::PlanCache>()) {}
BAGNET_INLINE Executor<cpu>::~Executor() = default;
BAGNET_INLINE Executor<cpu>::Executor(const Executor&) : Executor() {}
BAGNET_INLINE Executor<cpu>& Executor<cpu>::operator=(const Executor&) {
    invalidate();
    return *this;
}

BAGNET_INLINE Tensor2 Executor<cpu>::logits(const Architecture& arch, const Parameters& params, const ImagesView& x,
                                            Precision precision) {
    return plans_->logits(arch, params, x, precision);
}
BAGNET_INLINE Tensor4 Executor<cpu>::logit_map(const Architecture& arch, const Parameters& params,
                                               const ImagesView& x, Precision precision) {
    return plans_->logit_map(arch, params, x, precision);
}
BAGNET_INLINE void Executor<cpu>::invalidate() { plans_->invalidate(); }

}  // namespace bagnet
