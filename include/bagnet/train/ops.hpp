#pragma once
// What a backend provides for training: the layers whose cost matters
// (convolution, batch norm, ReLU), forward and backward. Backprop over a graph
// (train/backprop.hpp) is written once against this interface; the cheap layers
// (crop-and-add, spatial mean, linear head) are shared by every backend.
#include "bagnet/backend/backend.hpp"
#include "bagnet/backend/reference/backward.hpp"

namespace bagnet::train {

using reference_layers::BatchNormGradients;
using reference_layers::BatchStatistics;
using reference_layers::ConvGradients;

// Specialised per backend with:
//   Tensor4 convolution(x, ConvSpec, weight, const Tensor* bias)
//   ConvGradients convolution_backward(x, dy, ConvSpec, weight, bool input_gradient)
//   Tensor4 batch_norm_training(x, BatchNormSpec, gamma, beta, BatchStatistics& out)
//   Tensor4 batch_norm_inference(x, BatchNormSpec, gamma, beta, const BatchStatistics& running)
//   BatchNormGradients batch_norm_backward(x, dy, BatchNormSpec, gamma, stats, bool training, bool input_gradient)
//   Tensor4 relu(x);  Tensor4 relu_backward(y, dy)
template <class Backend>
class TrainingOps {
    static_assert(sizeof(Backend) == 0,
                  "bagnet: no training ops for this backend (include bagnet/backend/onednn/training.hpp for cpu)");
};

template <>
class TrainingOps<reference> {
public:
    Tensor4 convolution(const Tensor4& x, const ConvSpec& conv, const Tensor& weight, const Tensor* bias) {
        return reference_layers::conv2d(x, conv, weight, bias);
    }
    ConvGradients convolution_backward(const Tensor4& x, const Tensor4& dy, const ConvSpec& conv, const Tensor& weight,
                                       bool input_gradient) {
        return reference_layers::conv2d_backward(x, dy, conv, weight, input_gradient);
    }
    Tensor4 batch_norm_training(const Tensor4& x, const BatchNormSpec& bn, const Tensor& gamma, const Tensor& beta,
                                BatchStatistics& out) {
        out = reference_layers::batch_statistics(x);
        return batch_norm_inference(x, bn, gamma, beta, out);
    }
    Tensor4 batch_norm_inference(const Tensor4& x, const BatchNormSpec& bn, const Tensor& gamma, const Tensor& beta,
                                 const BatchStatistics& stats) {
        Tensor4 y = x;
        reference_layers::batch_norm_inference(y, bn, gamma, beta, stats.mean, stats.variance);
        return y;
    }
    BatchNormGradients batch_norm_backward(const Tensor4& x, const Tensor4& dy, const BatchNormSpec& bn,
                                           const Tensor& gamma, const BatchStatistics& stats, bool training,
                                           bool input_gradient) {
        return reference_layers::batch_norm_backward(x, dy, stats, gamma, bn.eps, training, input_gradient);
    }
    Tensor4 relu(const Tensor4& x) {
        Tensor4 y = x;
        reference_layers::relu(y);
        return y;
    }
    Tensor4 relu_backward(const Tensor4& y, const Tensor4& dy) { return reference_layers::relu_backward(y, dy); }
};

// One instance per thread and backend, so primitive caches live across steps and calls.
template <class Backend>
TrainingOps<Backend>& training_ops() {
    thread_local TrainingOps<Backend> ops;
    return ops;
}

}  // namespace bagnet::train
