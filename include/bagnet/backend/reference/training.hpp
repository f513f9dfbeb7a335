#pragma once
// The reference backend's side of the training contract (layers/contract.hpp):
// each layer as directly as the maths, on plain NCHW tensors.
#include "bagnet/backend/backend.hpp"
#include "bagnet/backend/reference/backward.hpp"
#include "bagnet/layers/contract.hpp"

namespace bagnet::train {

template <>
class TrainingOps<reference> {
public:
    using Value = Tensor4;

    Value import(Tensor4 x) { return x; }
    const Tensor4& to_tensor(const Value& x) { return x; }

    Value convolution(const Value& x, const ConvSpec& conv, const Tensor& weight, const Tensor* bias) {
        return backend::reference::conv2d(x, conv, weight, bias);
    }
    LayerGradients<Value> convolution_backward(const Value& x, const Value& dy, const ConvSpec& conv,
                                               const Tensor& weight, bool input_gradient) {
        return backend::reference::conv2d_backward(x, dy, conv, weight, input_gradient);
    }
    Value batch_norm_training(const Value& x, const BatchNormSpec& bn, const Tensor& gamma,
                              const Tensor& beta, BatchStatistics& out, bool relu) {
        out = backend::reference::batch_statistics(x);
        return batch_norm_inference(x, bn, gamma, beta, out, relu);
    }
    Value batch_norm_inference(const Value& x, const BatchNormSpec& bn, const Tensor& gamma,
                               const Tensor& beta, const BatchStatistics& stats, bool relu) {
        Tensor4 y = x;
        backend::reference::batch_norm_inference(y, bn, gamma, beta, stats.mean, stats.variance);
        if (relu) backend::reference::relu(y);
        return y;
    }
    LayerGradients<Value> batch_norm_backward(const Value& x, const Value& y, const Value& dy,
                                              const BatchNormSpec& bn, const Tensor& gamma,
                                              const BatchStatistics& stats, bool training, bool relu,
                                              bool input_gradient) {
        return backend::reference::batch_norm_backward(x, relu ? relu_backward(y, dy) : dy, stats, gamma,
                                                     bn.eps, training, input_gradient);
    }
    Value relu(const Value& x) {
        Tensor4 y = x;
        backend::reference::relu(y);
        return y;
    }
    Value relu_backward(const Value& y, const Value& dy) { return backend::reference::relu_backward(y, dy); }
    Value max_pool(const Value& x, const MaxPoolSpec& pool) { return backend::reference::max_pool(x, pool); }
    Value max_pool_backward(const Value& x, const Value& /*y*/, const Value& dy, const MaxPoolSpec& pool) {
        return backend::reference::max_pool_backward(x, dy, pool);
    }
    Value average_pool(const Value& x, const AveragePoolSpec& pool) { return backend::reference::average_pool(x, pool); }
    Value average_pool_backward(const Value& x, const Value& /*y*/, const Value& dy, const AveragePoolSpec& pool) {
        return backend::reference::average_pool_backward(x, dy, pool);
    }
    Value add_cropped(const Value& main, const Value& shortcut, bool relu, bool /*overwrite_main*/) {
        Tensor4 sum = main;
        backend::reference::add_cropped(sum, shortcut);
        if (relu) backend::reference::relu(sum);
        return sum;
    }
    Value uncrop(const Value& dy, const Value& shortcut) {
        const auto& s = shortcut.shape();
        return backend::reference::uncrop(dy, {s[0], s[1], s[2], s[3]});
    }
    void add_to(Value& sum, const Value& g) { sum += g; }
};

}  // namespace bagnet::train
