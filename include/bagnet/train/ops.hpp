#pragma once
// What a backend provides for training: the layers whose cost matters
// (convolution, batch norm, ReLU, the residual crop-and-add), forward and
// backward, on the backend's own activation type. Backprop over a graph
// (train/backprop.hpp) is written once against this interface; the cheap layers
// at the end of a network (spatial mean, linear head) are shared by every
// backend and run on plain tensors.
#include "bagnet/backend/backend.hpp"
#include "bagnet/backend/reference/backward.hpp"

namespace bagnet::train {

using reference_layers::BatchStatistics;
using reference_layers::LayerGradients;

// Specialised per backend with:
//   using Value = ...;   activations and their gradients in the backend's layout (plain NCHW Tensor4
//                        on `reference`, oneDNN's blocked memory on `cpu`). Copying a Value may share
//                        its storage: backprop never writes through one copy while another is in use.
//   Value import(Tensor4 x)                  from plain NCHW
//   to_tensor(const Value&)                  to plain NCHW (Tensor4, or a reference to one)
//   Value convolution(x, ConvSpec, weight, const Tensor* bias)
//   LayerGradients<Value> convolution_backward(x, Value dy, ConvSpec, weight, bool input_gradient)
//   Value batch_norm_training(x, BatchNormSpec, gamma, beta, BatchStatistics& out, bool relu)
//   Value batch_norm_inference(x, BatchNormSpec, gamma, beta, const BatchStatistics& running, bool relu)
//   LayerGradients<Value> batch_norm_backward(x, y, Value dy, BatchNormSpec, gamma, stats, bool training,
//                                             bool relu, bool input_gradient)
//       relu = true: the layer is relu(batch_norm(x)) in one pass, y its output and dy the gradient of y.
//   Value relu(x);  Value relu_backward(y, Value dy)
//   Value add_cropped(main, shortcut, bool relu, bool overwrite_main)
//       main + shortcut[:, :, :H, :W] (then ReLU); overwrite_main: main's storage may hold the result.
//   Value uncrop(const Value& dy, const Value& shortcut)   d shortcut of add_cropped, laid out as the
//                                                   shortcut: dy top-left, zeros elsewhere; new storage
//   void add_to(Value& sum, const Value& g)         sum += g (sum's storage is owned by the caller)
// Layers taking `Value dy` by value may reuse its storage for their result.
template <class Backend>
class TrainingOps {
    static_assert(sizeof(Backend) == 0,
                  "bagnet: no training ops for this backend (include bagnet/backend/onednn/training.hpp for cpu)");
};

template <>
class TrainingOps<reference> {
public:
    using Value = Tensor4;

    Value import(Tensor4 x) { return x; }
    const Tensor4& to_tensor(const Value& x) { return x; }

    Value convolution(const Value& x, const ConvSpec& conv, const Tensor& weight, const Tensor* bias) {
        return reference_layers::conv2d(x, conv, weight, bias);
    }
    LayerGradients<Value> convolution_backward(const Value& x, const Value& dy, const ConvSpec& conv,
                                               const Tensor& weight, bool input_gradient) {
        return reference_layers::conv2d_backward(x, dy, conv, weight, input_gradient);
    }
    Value batch_norm_training(const Value& x, const BatchNormSpec& bn, const Tensor& gamma,
                              const Tensor& beta, BatchStatistics& out, bool relu) {
        out = reference_layers::batch_statistics(x);
        return batch_norm_inference(x, bn, gamma, beta, out, relu);
    }
    Value batch_norm_inference(const Value& x, const BatchNormSpec& bn, const Tensor& gamma,
                               const Tensor& beta, const BatchStatistics& stats, bool relu) {
        Tensor4 y = x;
        reference_layers::batch_norm_inference(y, bn, gamma, beta, stats.mean, stats.variance);
        if (relu) reference_layers::relu(y);
        return y;
    }
    LayerGradients<Value> batch_norm_backward(const Value& x, const Value& y, const Value& dy,
                                              const BatchNormSpec& bn, const Tensor& gamma,
                                              const BatchStatistics& stats, bool training, bool relu,
                                              bool input_gradient) {
        return reference_layers::batch_norm_backward(x, relu ? relu_backward(y, dy) : dy, stats, gamma,
                                                     bn.eps, training, input_gradient);
    }
    Value relu(const Value& x) {
        Tensor4 y = x;
        reference_layers::relu(y);
        return y;
    }
    Value relu_backward(const Value& y, const Value& dy) { return reference_layers::relu_backward(y, dy); }
    Value add_cropped(const Value& main, const Value& shortcut, bool relu, bool /*overwrite_main*/) {
        Tensor4 sum = main;
        reference_layers::add_cropped(sum, shortcut);
        if (relu) reference_layers::relu(sum);
        return sum;
    }
    Value uncrop(const Value& dy, const Value& shortcut) {
        const auto& s = shortcut.shape();
        return reference_layers::uncrop(dy, {s[0], s[1], s[2], s[3]});
    }
    void add_to(Value& sum, const Value& g) { sum += g; }
};

// One instance per thread and backend, so primitive caches live across steps and calls.
template <class Backend>
TrainingOps<Backend>& training_ops() {
    thread_local TrainingOps<Backend> ops;
    return ops;
}

}  // namespace bagnet::train
