#pragma once
// What each kind of layer is: its geometry and hyper-parameters, the names of its
// tensors (PyTorch state_dict prefixes) and the shapes they have. A network
// (layers/graph.hpp) is built from these; every backend implements each kind.
#include <cstddef>
#include <string>
#include <vector>

namespace bagnet {

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
    // Output extent along one spatial axis; < 1 means the input is too small.
    int output_size(int input) const {
        const int span = input + 2 * padding - extent();
        return span < 0 ? 0 : span / stride + 1;
    }
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
    int output_size(int input) const {
        const int span = input + 2 * padding - kernel;
        return span < 0 ? 0 : span / stride + 1;
    }
};

// y = W x + b on N x in_features x 1 x 1 values.
struct LinearSpec {
    std::string name;
    int in_features = 0, out_features = 0;
};

}  // namespace bagnet
