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

#include "bagnet/backend/cuda/inference_plan.hpp"
#include "bagnet/backend/planned_executor.hpp"

namespace bagnet {

template <>
class Executor<cuda> : public PlannedExecutor<Executor<cuda>, gpu::InferencePlan> {
public:
    // fp32 convolutions on TF32 tensor cores (PyTorch's default): faster, about 1e-3
    // relative error. Off by default, so that fp32 means fp32 as on the CPU.
    Executor& allow_tf32(bool allow) {
        if (allow != allow_tf32_) invalidate();
        allow_tf32_ = allow;
        return *this;
    }
    bool allow_tf32() const { return allow_tf32_; }

    gpu::InferencePlan make_plan(const Architecture& arch, const Parameters& params,
                                 const std::array<int, 4>& input_shape, Precision precision, Output output) {
        return gpu::InferencePlan(arch, params, input_shape, {precision, allow_tf32_}, output, queue());
    }

    // Created on first use, so that a model can be built and loaded on a machine without a GPU.
    const std::shared_ptr<const gpu::Queue>& queue() {
        if (!queue_) {
            gpu::require_gpu();
            queue_ = std::make_shared<const gpu::Queue>();
        }
        return queue_;
    }

private:
    std::shared_ptr<const gpu::Queue> queue_;  // shared with the plans, which outlive a move of the executor
    bool allow_tf32_ = false;
};

}  // namespace bagnet
