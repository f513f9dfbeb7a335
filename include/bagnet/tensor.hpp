#pragma once
// The tensor types at the API: xtensor containers, row-major, float32, NCHW.
#include <xtensor/xtensor.hpp>
#include <xtensor/xarray.hpp>
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>

namespace bagnet {

using Tensor = xt::xarray<float>;           // any rank
using Tensor4 = xt::xtensor<float, 4>;      // N x C x H x W (or N x H' x W' x classes)
using Tensor2 = xt::xtensor<float, 2>;      // N x classes

// A read-only N x C x H x W float32 batch in row-major memory that something else owns
// (a Tensor4, or a front end's own buffer such as a numpy array): what logits,
// logit_map, the heatmaps and input_gradient read, so that a caller can hand over its buffer instead of copying it into
// a Tensor4. The memory must outlive the call.
class ImagesView {
public:
    ImagesView(const float* data, const std::array<std::size_t, 4>& shape) : data_(data), shape_(shape) {}
    ImagesView(const Tensor4& x) : data_(x.data()), shape_(x.shape()) {}  // NOLINT: implicit, every Tensor4 is one

    const float* data() const { return data_; }
    const std::array<std::size_t, 4>& shape() const { return shape_; }
    std::size_t size() const { return shape_[0] * shape_[1] * shape_[2] * shape_[3]; }
    // The value at (n, c, y, x), as Tensor4's operator() reads it; rows are contiguous.
    const float& operator()(std::size_t n, std::size_t c, std::size_t y, std::size_t x) const {
        return data_[((n * shape_[1] + c) * shape_[2] + y) * shape_[3] + x];
    }

private:
    const float* data_;
    std::array<std::size_t, 4> shape_;
};

// A Tensor4 holding a copy of the images (for code that keeps or changes its input).
inline Tensor4 to_tensor(const ImagesView& x) {
    Tensor4 copy = Tensor4::from_shape(x.shape());
    std::copy_n(x.data(), x.size(), copy.data());
    return copy;
}

// "[2, 3, 224, 224]". A shape read from a hostile file can have any number of
// dimensions; after the first eight the rest are summarised, so that an error
// message stays one readable line.
template <class Shape>
std::string shape_string(const Shape& shape) {
    constexpr std::size_t shown = 8;
    std::ostringstream out;
    out << '[';
    std::size_t count = 0;
    for (auto d : shape) {
        if (count < shown) out << (count ? ", " : "") << d;
        ++count;
    }
    if (count > shown) out << ", ... (" << count << " dimensions)";
    out << ']';
    return out.str();
}

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

}  // namespace bagnet
