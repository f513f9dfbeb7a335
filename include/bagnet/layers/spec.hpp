#pragma once
// What each kind of layer is: its geometry and hyper-parameters, the names of its
// tensors (PyTorch state_dict prefixes) and the shapes they have. A network
// (layers/graph.hpp) is built from these; every backend implements each kind.
#include <cstddef>
#include <string>
#include <vector>

namespace bagnet {

// The tensors a layer can own, as PyTorch's state_dict names their suffixes. Keys
// are built from a layer's name and a slot only here (tensor_key, key), so every
// place that reads or writes a tensor agrees on its name.
enum class TensorSlot { weight, bias, running_mean, running_var, num_batches_tracked };

inline const char* slot_suffix(TensorSlot slot) {
    switch (slot) {
    case TensorSlot::weight: return "weight";
    case TensorSlot::bias: return "bias";
    case TensorSlot::running_mean: return "running_mean";
    case TensorSlot::running_var: return "running_var";
    case TensorSlot::num_batches_tracked: return "num_batches_tracked";
    }
    return "";
}

// "layer1.0.conv2" + weight -> "layer1.0.conv2.weight".
inline std::string tensor_key(const std::string& layer, TensorSlot slot) { return layer + "." + slot_suffix(slot); }

// The key of one of a named layer's tensors: key(conv, TensorSlot::weight).
template <typename Spec>
std::string key(const Spec& spec, TensorSlot slot) {
    return tensor_key(spec.name, slot);
}

// A sliding square window along one spatial axis: what convolutions and poolings
// share, so output sizes, strides and receptive fields are derived in one place.
struct Window {
    int extent = 1, stride = 1, padding = 0;  // extent: pixels from first tap to last, both included
    // Output extent for an input extent; < 1 means the input is too small.
    int output_size(int input) const {
        const int span = input + 2 * padding - extent;
        return span < 0 ? 0 : span / stride + 1;
    }
};

// A 2-D convolution, square kernel, symmetric zero padding. Dilation d spaces the
// kernel's taps d pixels apart (PyTorch's convention: 1 is a plain convolution); the
// published networks have none, the dense evaluation of a BagNet (layers/a_trous.hpp)
// replaces strides by it.
struct ConvSpec {
    std::string name;  // state_dict prefix, e.g. "layer1.0.conv2"
    int in_channels = 0, out_channels = 0, kernel = 1, stride = 1, padding = 0;
    bool bias = false;
    int dilation = 1;
    std::vector<std::size_t> weight_shape() const {
        return {std::size_t(out_channels), std::size_t(in_channels), std::size_t(kernel),
                std::size_t(kernel)};
    }
    // Pixels from the first tap to the last along one axis, both included.
    int extent() const { return dilation * (kernel - 1) + 1; }
    Window window() const { return {extent(), stride, padding}; }
    int output_size(int input) const { return window().output_size(input); }
};

struct BatchNormSpec {
    std::string name;
    int channels = 0;
    double eps = 1e-5;
    double momentum = 0.1;  // PyTorch convention: new = (1 - m) old + m batch
};

// Maximum over square windows; padding counts as minus infinity (PyTorch's MaxPool2d).
struct MaxPoolSpec {
    int kernel = 2, stride = 2, padding = 0;
    Window window() const { return {kernel, stride, padding}; }
    int output_size(int input) const { return window().output_size(input); }
};

// Mean over square windows; padding counts as zeros that are counted (PyTorch's
// AvgPool2d with its default count_include_pad=True): every window divides by
// kernel x kernel.
struct AveragePoolSpec {
    int kernel = 2, stride = 2, padding = 0;
    Window window() const { return {kernel, stride, padding}; }
    int output_size(int input) const { return window().output_size(input); }
};

// y = W x + b on N x in_features x 1 x 1 values.
struct LinearSpec {
    std::string name;
    int in_features = 0, out_features = 0;
};

}  // namespace bagnet
