#pragma once
// What every backend implements for training, layer by layer: the contract that
// backprop over a graph (train/backprop.hpp) is written against once. Each backend
// specialises TrainingOps<Backend> in its own folder (backend/<name>/training.hpp),
// one member pair (forward, backward) per layer kind of layers/graph.hpp. The cheap
// layers at the end of a network (spatial mean, linear head) run on plain tensors,
// shared by every backend.
#include <cstddef>
#include <type_traits>

#include "bagnet/detect.hpp"
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
//   Value average_pool(x, AveragePoolSpec);  Value average_pool_backward(x, y, Value dy, AveragePoolSpec)
//       each window's gradient shared equally by its kernel x kernel cells (padding counted), summed where
//       windows overlap.
//   Value add_cropped(main, shortcut, bool relu, bool overwrite_main)
//       main + shortcut[:, :, :H, :W] (then ReLU); overwrite_main: main's storage may hold the result.
//   Value uncrop(const Value& dy, const Value& shortcut)   d shortcut of add_cropped, laid out as the
//                                                   shortcut: dy top-left, zeros elsewhere; new storage
//   void add_to(Value& sum, const Value& g)         sum += g (sum's storage is owned by the caller)
// Layers taking `Value dy` by value may reuse its storage for their result.
template <class Backend>
class TrainingOps {
    static_assert(sizeof(Backend) == 0,
                  "bagnet: no training ops for this backend (bagnet/train/backends.hpp includes every backend's)");
};

// ---- The contract, checked at compile time ------------------------------------
// One trait per member above: whether TrainingOps<Backend> can be called so. A
// backend that lacks one fails to compile with a message naming it
// (check_training_contract), not deep inside backprop.
namespace contract {
using detect::a;
template <class Ops>
using Value = typename Ops::Value;

template <class Ops, class = void>
struct has_value : std::false_type {};
template <class Ops>
struct has_value<Ops, std::void_t<Value<Ops>>> : std::true_type {};

// has_<member><T>: T::<member> accepts the arguments backprop passes it.
BAGNET_DETECT_CALL(has_import, import, a<Tensor4>())
BAGNET_DETECT_CALL(has_to_tensor, to_tensor, a<Value<T>>())
BAGNET_DETECT_CALL(has_convolution, convolution, a<Value<T>>(), a<const ConvSpec>(), a<const Tensor>(), a<const Tensor*>())
BAGNET_DETECT_CALL(has_convolution_backward, convolution_backward, a<Value<T>>(), a<Value<T>>(), a<const ConvSpec>(),
                   a<const Tensor>(), true)
BAGNET_DETECT_CALL(has_batch_norm_training, batch_norm_training, a<Value<T>>(), a<const BatchNormSpec>(),
                   a<const Tensor>(), a<const Tensor>(), a<BatchStatistics>(), true)
BAGNET_DETECT_CALL(has_batch_norm_inference, batch_norm_inference, a<Value<T>>(), a<const BatchNormSpec>(),
                   a<const Tensor>(), a<const Tensor>(), a<const BatchStatistics>(), true)
BAGNET_DETECT_CALL(has_batch_norm_backward, batch_norm_backward, a<Value<T>>(), a<Value<T>>(), a<Value<T>>(),
                   a<const BatchNormSpec>(), a<const Tensor>(), a<const BatchStatistics>(), true, true, true)
BAGNET_DETECT_CALL(has_relu, relu, a<Value<T>>())
BAGNET_DETECT_CALL(has_relu_backward, relu_backward, a<Value<T>>(), a<Value<T>>())
BAGNET_DETECT_CALL(has_max_pool, max_pool, a<Value<T>>(), a<const MaxPoolSpec>())
BAGNET_DETECT_CALL(has_max_pool_backward, max_pool_backward, a<Value<T>>(), a<Value<T>>(), a<Value<T>>(),
                   a<const MaxPoolSpec>())
BAGNET_DETECT_CALL(has_average_pool, average_pool, a<Value<T>>(), a<const AveragePoolSpec>())
BAGNET_DETECT_CALL(has_average_pool_backward, average_pool_backward, a<Value<T>>(), a<Value<T>>(), a<Value<T>>(),
                   a<const AveragePoolSpec>())
BAGNET_DETECT_CALL(has_add_cropped, add_cropped, a<Value<T>>(), a<Value<T>>(), true, true)
BAGNET_DETECT_CALL(has_uncrop, uncrop, a<Value<T>>(), a<Value<T>>())
BAGNET_DETECT_CALL(has_add_to, add_to, a<Value<T>>(), a<Value<T>>())

// Whether Ops provides the whole contract (for tests and for backends checking themselves).
template <class Ops>
constexpr bool satisfies_training_contract =
    has_value<Ops>::value && has_import<Ops>::value && has_to_tensor<Ops>::value && has_convolution<Ops>::value &&
    has_convolution_backward<Ops>::value && has_batch_norm_training<Ops>::value &&
    has_batch_norm_inference<Ops>::value && has_batch_norm_backward<Ops>::value && has_relu<Ops>::value &&
    has_relu_backward<Ops>::value && has_max_pool<Ops>::value && has_max_pool_backward<Ops>::value &&
    has_average_pool<Ops>::value && has_average_pool_backward<Ops>::value && has_add_cropped<Ops>::value && has_uncrop<Ops>::value && has_add_to<Ops>::value;

// Fails the build with the first missing member named.
template <class Ops>
constexpr bool check_training_contract() {
    static_assert(has_value<Ops>::value, "bagnet backend contract: TrainingOps<Backend> lacks `using Value = ...`");
    static_assert(has_import<Ops>::value, "bagnet backend contract: TrainingOps<Backend> lacks Value import(Tensor4)");
    static_assert(has_to_tensor<Ops>::value, "bagnet backend contract: TrainingOps<Backend> lacks to_tensor(const Value&)");
    static_assert(has_convolution<Ops>::value,
                  "bagnet backend contract: TrainingOps<Backend> lacks convolution(x, ConvSpec, weight, const Tensor* bias)");
    static_assert(has_convolution_backward<Ops>::value,
                  "bagnet backend contract: TrainingOps<Backend> lacks convolution_backward(x, dy, ConvSpec, weight, bool)");
    static_assert(has_batch_norm_training<Ops>::value,
                  "bagnet backend contract: TrainingOps<Backend> lacks batch_norm_training(x, BatchNormSpec, gamma, beta, "
                  "BatchStatistics&, bool relu)");
    static_assert(has_batch_norm_inference<Ops>::value,
                  "bagnet backend contract: TrainingOps<Backend> lacks batch_norm_inference(x, BatchNormSpec, gamma, beta, "
                  "const BatchStatistics&, bool relu)");
    static_assert(has_batch_norm_backward<Ops>::value,
                  "bagnet backend contract: TrainingOps<Backend> lacks batch_norm_backward(x, y, dy, BatchNormSpec, gamma, "
                  "stats, bool training, bool relu, bool input_gradient)");
    static_assert(has_relu<Ops>::value, "bagnet backend contract: TrainingOps<Backend> lacks relu(x)");
    static_assert(has_relu_backward<Ops>::value, "bagnet backend contract: TrainingOps<Backend> lacks relu_backward(y, dy)");
    static_assert(has_max_pool<Ops>::value, "bagnet backend contract: TrainingOps<Backend> lacks max_pool(x, MaxPoolSpec)");
    static_assert(has_max_pool_backward<Ops>::value,
                  "bagnet backend contract: TrainingOps<Backend> lacks max_pool_backward(x, y, dy, MaxPoolSpec)");
    static_assert(has_average_pool<Ops>::value,
                  "bagnet backend contract: TrainingOps<Backend> lacks average_pool(x, AveragePoolSpec)");
    static_assert(has_average_pool_backward<Ops>::value,
                  "bagnet backend contract: TrainingOps<Backend> lacks average_pool_backward(x, y, dy, AveragePoolSpec)");
    static_assert(has_add_cropped<Ops>::value,
                  "bagnet backend contract: TrainingOps<Backend> lacks add_cropped(main, shortcut, bool relu, bool overwrite)");
    static_assert(has_uncrop<Ops>::value, "bagnet backend contract: TrainingOps<Backend> lacks uncrop(dy, shortcut)");
    static_assert(has_add_to<Ops>::value, "bagnet backend contract: TrainingOps<Backend> lacks add_to(Value& sum, g)");
    return true;
}
}  // namespace contract

// One instance per thread and backend, so primitive caches live across steps and calls.
template <class Backend>
TrainingOps<Backend>& training_ops() {
    static_assert(contract::check_training_contract<TrainingOps<Backend>>());
    thread_local TrainingOps<Backend> ops;
    return ops;
}

}  // namespace bagnet::train
