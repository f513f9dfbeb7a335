#pragma once
// What the fast backends share: a forward pass compiled once per input shape,
// precision and output kind (a "plan"), kept and reused. Building a plan costs
// far more than running it, and a program usually alternates between a few
// shapes (a batch, a last partial batch).
//
// A backend's plan type provides map_height(), map_width() and
// run(const float* input, float* output) on host memory; the backend's executor
// derives from PlannedExecutor<Itself, ItsPlan> and has a make_plan(arch, params,
// input_shape, precision, output) that builds one.
#include <array>
#include <cstddef>
#include <list>
#include <tuple>
#include <utility>

#include "bagnet/arch.hpp"
#include "bagnet/backend/backend.hpp"
#include "bagnet/parameters.hpp"
#include "bagnet/tensor.hpp"

namespace bagnet {

template <class Derived, class Plan>
class PlannedExecutor {
public:
    Tensor2 logits(const Architecture& arch, const Parameters& params, const ImagesView& x, Precision precision) {
        auto& plan = plan_for(arch, params, shape_of(x), precision, Output::logits);
        Tensor2 out = xt::zeros<float>({x.shape()[0], std::size_t(arch.classes())});
        plan.run(x.data(), out.data());
        return out;
    }

    Tensor4 logit_map(const Architecture& arch, const Parameters& params, const ImagesView& x, Precision precision) {
        auto& plan = plan_for(arch, params, shape_of(x), precision, Output::logit_map);
        Tensor4 out = xt::zeros<float>({x.shape()[0], std::size_t(plan.map_height()), std::size_t(plan.map_width()),
                                        std::size_t(arch.classes())});
        plan.run(x.data(), out.data());
        return out;
    }

    // Parameters changed: the folded weights inside the plans are stale.
    void invalidate() { plans_.clear(); }

protected:
    static std::array<int, 4> shape_of(const ImagesView& x) {
        return {int(x.shape()[0]), int(x.shape()[1]), int(x.shape()[2]), int(x.shape()[3])};
    }

    Plan& plan_for(const Architecture& arch, const Parameters& params, const std::array<int, 4>& shape,
                   Precision precision, Output output) {
        const Key key{shape, precision, output};
        for (auto it = plans_.begin(); it != plans_.end(); ++it)
            if (it->first == key) {
                plans_.splice(plans_.begin(), plans_, it);  // most recently used first
                return plans_.front().second;
            }
        if (plans_.size() == max_plans) plans_.pop_back();
        plans_.emplace_front(key, static_cast<Derived&>(*this).make_plan(arch, params, shape, precision, output));
        return plans_.front().second;
    }

private:
    using Key = std::tuple<std::array<int, 4>, Precision, Output>;
    static constexpr std::size_t max_plans = config::cached_plans;

    std::list<std::pair<Key, Plan>> plans_;
};

}  // namespace bagnet
