#pragma once
// The `cpu` backend: oneDNN inference plans (see inference_plan.hpp), built once
// per input shape, precision and output kind, and reused.
#include "bagnet/backend/onednn/inference_plan.hpp"
#include "bagnet/backend/planned_executor.hpp"

namespace bagnet {

template <>
class Executor<cpu> : public PlannedExecutor<Executor<cpu>, onednn::InferencePlan> {
public:
    onednn::InferencePlan make_plan(const Architecture& arch, const Parameters& params,
                                    const std::array<int, 4>& input_shape, Precision precision, Output output) {
        return onednn::InferencePlan(arch, params, input_shape, precision, output);
    }
};

}  // namespace bagnet
