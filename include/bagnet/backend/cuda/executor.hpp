#pragma once
// The `cuda` backend: the same model and free functions on an NVIDIA GPU.
//
//   bagnet::BagNet<33, bagnet::imagenet, bagnet::cuda> model;
//   model.load("bagnet33.safetensors");
//   auto logits = bagnet::logits(model, images);   // images and logits on the host
//
// Each model owns its GPU queue (a stream with cuDNN and cuBLAS bound to it) and
// its plans' device memory. Without a usable GPU the first call throws a
// bagnet::Error saying so; nothing falls back to the CPU silently.
#include <memory>
#include <string>
#include <vector>

#include "bagnet/backend/cuda/inference_plan.hpp"
#include "bagnet/backend/planned_executor.hpp"

namespace bagnet {

template <>
class Executor<cuda> : public PlannedExecutor<Executor<cuda>, backend::cuda::InferencePlan> {
public:
    // Inputs are scanned for NaN and infinity on the GPU, as they are converted.
    static constexpr bool checks_finiteness = true;

    // fp32 convolutions on TF32 tensor cores (PyTorch's default): faster, about 1e-3
    // relative error. Off by default, so that fp32 means fp32 as on the CPU.
    Executor& allow_tf32(bool allow) {
        if (allow != allow_tf32_) invalidate();
        allow_tf32_ = allow;
        return *this;
    }
    bool allow_tf32() const { return allow_tf32_; }

    backend::cuda::InferencePlan make_plan(const Architecture& arch, const Parameters& params,
                                 const std::array<int, 4>& input_shape, Precision precision, Output output) {
        return backend::cuda::InferencePlan(arch, params, input_shape, {precision, allow_tf32_}, output, queue());
    }

    // Logit maps of crops cut on the GPU from `images` (crops: image, row, column triples;
    // see InferencePlan::run_crops), restricted to `classes`: count x H' x W' x classes.size().
    Tensor4 crop_logit_maps(const Architecture& arch, const Parameters& params, const Tensor4& images,
                            const std::vector<int>& crops, int crop_h, int crop_w, const std::vector<int>& classes,
                            Precision precision) {
        const int count = int(crops.size() / 3);
        auto& plan = plan_for(arch, params, {count, int(images.shape()[1]), crop_h, crop_w}, precision,
                              Output::logit_map);
        Tensor4 out = Tensor4::from_shape(
            {std::size_t(count), std::size_t(plan.map_height()), std::size_t(plan.map_width()), classes.size()});
        plan.run_crops(images.data(), int(images.shape()[0]), int(images.shape()[2]), int(images.shape()[3]), crops,
                       classes, out.data());
        return out;
    }

    // Per-step GPU times of the logits of x (see InferencePlan::profile).
    std::string profile(const Architecture& arch, const Parameters& params, const Tensor4& x, Precision precision,
                        int repeat = 5) {
        return plan_for(arch, params, shape_of(x), precision, Output::logits).profile(x.data(), repeat);
    }

    // Created on first use, so that a model can be built and loaded on a machine without a GPU.
    const std::shared_ptr<const backend::cuda::Queue>& queue() {
        if (!queue_) {
            backend::cuda::require_gpu();
            queue_ = std::make_shared<const backend::cuda::Queue>();
        }
        return queue_;
    }

private:
    std::shared_ptr<const backend::cuda::Queue> queue_;  // shared with the plans, which outlive a move of the executor
    bool allow_tf32_ = false;
};

}  // namespace bagnet
