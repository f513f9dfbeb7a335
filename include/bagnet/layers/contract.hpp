#pragma once
// What every backend implements for training, layer by layer: the contract that
// backprop over a graph (train/backprop.hpp) is written against once. Each backend
// specialises TrainingOps<Backend> in its own folder (backend/<name>/training.hpp),
// one member pair (forward, backward) per layer kind of layers/graph.hpp. The cheap
// layers at the end of a network (spatial mean, linear head) run on plain tensors,
// shared by every backend.
#include <cstddef>

#include "bagnet/layers/spec.hpp"
#include "bagnet/tensor.hpp"

namespace bagnet::train {

// Per-channel batch mean and biased variance (what normalises the batch).
struct BatchStatistics {
    Tensor mean, variance;
    double count = 0;  // values per channel they cover; 0: the layer's own input (more when synchronised)
};

// What a layer's backward pass gives: the gradient of its input (empty unless
// asked for) and of its parameters, which are always plain tensors. Value is the
// backend's activation type.
template <class Value = Tensor4>
struct LayerGradients {
    Value input;
    Tensor weight, bias;
};

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
//   Value max_pool(x, MaxPoolSpec);  Value max_pool_backward(x, y, Value dy, MaxPoolSpec)
//       the gradient goes to the first maximum of each window (PyTorch's choice), summed where windows overlap.
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

// One instance per thread and backend, so primitive caches live across steps and calls.
template <class Backend>
TrainingOps<Backend>& training_ops() {
    thread_local TrainingOps<Backend> ops;
    return ops;
}

}  // namespace bagnet::train
