#pragma once
// Inference as free functions over a model and a batch of images.
#include <cmath>
#include <string>

#include "bagnet/model.hpp"

namespace bagnet {

// Checks that x can be fed to the architecture; throws a one-line Error otherwise.
inline void check_input(const Architecture& arch, const Tensor4& x) {
    const auto& s = x.shape();
    require(s[0] >= 1, "the input batch is empty");
    require(int(s[1]) == arch.in_channels, arch.name + " expects " + std::to_string(arch.in_channels) +
                                                " input channels, got " + std::to_string(s[1]) + " (input shape " +
                                                shape_string(s) + ")");
    const int minimum = arch.min_input_size();
    require(int(s[2]) >= minimum && int(s[3]) >= minimum,
            arch.name + " needs inputs of at least " + std::to_string(minimum) + " x " + std::to_string(minimum) +
                " pixels, got " + std::to_string(s[2]) + " x " + std::to_string(s[3]));
    for (float v : x)
        if (!std::isfinite(v)) throw Error("the input contains non-finite values (NaN or infinity)");
}

// N x C x H x W (normalised) -> N x classes: the spatial mean of the logit map.
template <class Backend>
Tensor2 logits(const Model<Backend>& model, const Tensor4& x) {
    check_input(model.architecture(), x);
    return model.executor().logits(model.architecture(), model.parameters(), x, model.precision());
}

// N x C x H x W -> N x H' x W' x classes: class evidence of every q x q patch
// (the patch at map (i, j) starts at pixel (8i, 8j) for the ImageNet models).
template <class Backend>
Tensor4 logit_map(const Model<Backend>& model, const Tensor4& x) {
    check_input(model.architecture(), x);
    return model.executor().logit_map(model.architecture(), model.parameters(), x, model.precision());
}

}  // namespace bagnet
