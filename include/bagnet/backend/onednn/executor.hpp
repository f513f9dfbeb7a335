#pragma once
// The `cpu` backend: oneDNN inference plans, built once per input shape,
// precision and output kind, and reused.
#include <list>
#include <tuple>

#include "bagnet/backend/backend.hpp"
#include "bagnet/backend/onednn/inference_plan.hpp"

namespace bagnet {

template <>
class Executor<cpu> {
public:
    Tensor2 logits(const Architecture& arch, const Parameters& params, const Tensor4& x, Precision precision) {
        auto& plan = plan_for(arch, params, x, precision, onednn::Output::logits);
        Tensor2 out = xt::zeros<float>({x.shape()[0], std::size_t(arch.classes())});
        plan.run(x.data(), out.data());
        return out;
    }

    Tensor4 logit_map(const Architecture& arch, const Parameters& params, const Tensor4& x, Precision precision) {
        auto& plan = plan_for(arch, params, x, precision, onednn::Output::logit_map);
        Tensor4 out = xt::zeros<float>({x.shape()[0], std::size_t(plan.map_height()), std::size_t(plan.map_width()),
                                        std::size_t(arch.classes())});
        plan.run(x.data(), out.data());
        return out;
    }

    // Parameters changed: the folded weights inside the plans are stale.
    void invalidate() { plans_.clear(); }

private:
    using Key = std::tuple<std::array<int, 4>, Precision, onednn::Output>;
    static constexpr std::size_t max_plans = 4;  // each holds a copy of the weights

    onednn::InferencePlan& plan_for(const Architecture& arch, const Parameters& params, const Tensor4& x,
                                    Precision precision, onednn::Output output) {
        const std::array<int, 4> shape{int(x.shape()[0]), int(x.shape()[1]), int(x.shape()[2]), int(x.shape()[3])};
        const Key key{shape, precision, output};
        for (auto it = plans_.begin(); it != plans_.end(); ++it)
            if (it->first == key) {
                plans_.splice(plans_.begin(), plans_, it);  // most recently used first
                return plans_.front().second;
            }
        if (plans_.size() == max_plans) plans_.pop_back();
        plans_.emplace_front(key, onednn::InferencePlan(arch, params, shape, precision, output));
        return plans_.front().second;
    }

    std::list<std::pair<Key, onednn::InferencePlan>> plans_;
};

}  // namespace bagnet
