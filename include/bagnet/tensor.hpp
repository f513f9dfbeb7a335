#pragma once
// The tensor types at the API: xtensor containers, row-major, float32, NCHW.
#include <xtensor/xtensor.hpp>
#include <xtensor/xarray.hpp>
#include <array>
#include <cstddef>
#include <sstream>
#include <string>

namespace bagnet {

using Tensor = xt::xarray<float>;           // any rank
using Tensor4 = xt::xtensor<float, 4>;      // N x C x H x W (or N x H' x W' x classes)
using Tensor2 = xt::xtensor<float, 2>;      // N x classes

template <class Shape>
std::string shape_string(const Shape& shape) {
    std::ostringstream out;
    out << '[';
    bool first = true;
    for (auto d : shape) {
        out << (first ? "" : ", ") << d;
        first = false;
    }
    out << ']';
    return out.str();
}

}  // namespace bagnet
