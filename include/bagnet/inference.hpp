#pragma once
// Inference as free functions over a model and a batch of images.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "bagnet/model.hpp"

namespace bagnet {

// Whether no value is NaN or infinite. A branch-free reduction over the exponent
// bits, so the compiler vectorises it: a GPU batch is checked in a few milliseconds.
inline bool all_finite(const float* data, std::size_t count) {
    constexpr std::uint32_t exponent = 0x7f800000u;  // all ones: infinity or NaN
    std::uint32_t special = 0;
    for (std::size_t i = 0; i < count; ++i) {
        std::uint32_t bits;
        std::memcpy(&bits, data + i, sizeof bits);
        special |= std::uint32_t((bits & exponent) == exponent);
    }
    return special == 0;
}

// Checks that x has a shape the architecture takes; throws a one-line Error otherwise.
inline void check_input_shape(const Architecture& arch, const Tensor4& x) {
    const auto& s = x.shape();
    require(s[0] >= 1, "the input batch is empty");
    require(int(s[1]) == arch.in_channels, arch.name + " expects " + std::to_string(arch.in_channels) +
                                                " input channels, got " + std::to_string(s[1]) + " (input shape " +
                                                shape_string(s) + ")");
    const int minimum = arch.min_input_size();
    require(int(s[2]) >= minimum && int(s[3]) >= minimum,
            arch.name + " needs inputs of at least " + std::to_string(minimum) + " x " + std::to_string(minimum) +
                " pixels, got " + std::to_string(s[2]) + " x " + std::to_string(s[3]));
}

// Checks that x can be fed to the architecture (shape, and no NaN or infinity).
inline void check_input(const Architecture& arch, const Tensor4& x) {
    check_input_shape(arch, x);
    require(all_finite(x.data(), x.size()), "the input contains non-finite values (NaN or infinity)");
}

// Whether a backend's executor finds non-finite inputs itself, on its device (where
// the scan costs nothing), and reports them with check_input's words.
template <class E, class = void>
struct checks_finiteness : std::false_type {};
template <class E>
struct checks_finiteness<E, std::enable_if_t<E::checks_finiteness>> : std::true_type {};

// check_input for a model's backend.
template <class Backend>
void check_input(const Model<Backend>& model, const Tensor4& x) {
    if constexpr (checks_finiteness<Executor<Backend>>::value) check_input_shape(model.architecture(), x);
    else check_input(model.architecture(), x);
}

// N x C x H x W (normalised) -> N x classes: the spatial mean of the logit map.
template <class Backend>
Tensor2 logits(const Model<Backend>& model, const Tensor4& x) {
    check_input(model, x);
    return model.executor().logits(model.architecture(), model.parameters(), x, model.precision());
}

// N x C x H x W -> N x H' x W' x classes: class evidence of every q x q patch
// (the patch at map (i, j) starts at pixel (8i, 8j) for the ImageNet models).
template <class Backend>
Tensor4 logit_map(const Model<Backend>& model, const Tensor4& x) {
    check_input(model, x);
    return model.executor().logit_map(model.architecture(), model.parameters(), x, model.precision());
}

}  // namespace bagnet
