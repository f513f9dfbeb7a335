#pragma once
// The reference backend's layers: direct, unfused, in the order PyTorch runs
// them, with Eigen doing the matrix products. Tensors are NCHW xtensor arrays.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <utility>
#include <limits>
#include <vector>

#include "bagnet/layers/spec.hpp"
#include "bagnet/tensor.hpp"

namespace bagnet::backend::reference {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMatrixMap = Eigen::Map<const RowMatrix>;
using MatrixMap = Eigen::Map<RowMatrix>;

// Unfolds one image (C x H x W) into a (C*k*k) x (Ho*Wo) matrix of patches;
// zero padding where a patch leaves the image.
inline RowMatrix im2col(const float* image, int channels, int height, int width, const ConvSpec& conv) {
    const int ho = conv.output_size(height), wo = conv.output_size(width), k = conv.kernel;
    RowMatrix columns(channels * k * k, ho * wo);
    for (int c = 0; c < channels; ++c)
        for (int ky = 0; ky < k; ++ky)
            for (int kx = 0; kx < k; ++kx) {
                float* row = columns.data() + ((c * k + ky) * k + kx) * ho * wo;
                for (int y = 0; y < ho; ++y) {
                    const int iy = y * conv.stride + ky * conv.dilation - conv.padding;
                    for (int x = 0; x < wo; ++x) {
                        const int ix = x * conv.stride + kx * conv.dilation - conv.padding;
                        const bool inside = iy >= 0 && iy < height && ix >= 0 && ix < width;
                        row[y * wo + x] = inside ? image[(c * height + iy) * width + ix] : 0.f;
                    }
                }
            }
    return columns;
}

inline Tensor4 conv2d(const Tensor4& x, const ConvSpec& conv, const Tensor& weight, const Tensor* bias) {
    const int n = int(x.shape()[0]), c = int(x.shape()[1]), h = int(x.shape()[2]), w = int(x.shape()[3]);
    const int ho = conv.output_size(h), wo = conv.output_size(w);
    Tensor4 y = xt::zeros<float>({std::size_t(n), std::size_t(conv.out_channels), std::size_t(ho), std::size_t(wo)});
    ConstMatrixMap kernel(weight.data(), conv.out_channels, c * conv.kernel * conv.kernel);
    for (int i = 0; i < n; ++i) {
        const RowMatrix columns = im2col(x.data() + std::size_t(i) * c * h * w, c, h, w, conv);
        MatrixMap out(y.data() + std::size_t(i) * conv.out_channels * ho * wo, conv.out_channels, ho * wo);
        out.noalias() = kernel * columns;
        if (bias)
            for (int o = 0; o < conv.out_channels; ++o) out.row(o).array() += (*bias)(o);
    }
    return y;
}

// Eval-mode batch norm with running statistics.
inline void batch_norm_inference(Tensor4& x, const BatchNormSpec& bn, const Tensor& gamma, const Tensor& beta,
                                 const Tensor& mean, const Tensor& var) {
    const std::size_t plane = x.shape()[2] * x.shape()[3];
    for (std::size_t i = 0; i < x.shape()[0]; ++i)
        for (std::size_t c = 0; c < x.shape()[1]; ++c) {
            const float scale = float(gamma(c) / std::sqrt(double(var(c)) + bn.eps));
            float* p = x.data() + (i * x.shape()[1] + c) * plane;
            for (std::size_t j = 0; j < plane; ++j) p[j] = (p[j] - mean(c)) * scale + beta(c);
        }
}

inline void relu(Tensor4& x) {
    for (auto& v : x) v = v > 0.f ? v : 0.f;
}

// Max over each window; padding never wins (PyTorch's MaxPool2d). Where several
// values tie, the first in row-major window order is the maximum (`argmax` gives
// its input offset within the image plane, for the backward pass).
inline Tensor4 max_pool(const Tensor4& x, const MaxPoolSpec& pool, std::vector<std::size_t>* argmax = nullptr) {
    const std::size_t n = x.shape()[0], c = x.shape()[1];
    const int h = int(x.shape()[2]), w = int(x.shape()[3]);
    const int ho = pool.output_size(h), wo = pool.output_size(w);
    Tensor4 y = Tensor4::from_shape({n, c, std::size_t(ho), std::size_t(wo)});
    if (argmax) argmax->assign(y.size(), 0);
    for (std::size_t plane = 0; plane < n * c; ++plane) {
        const float* in = x.data() + plane * std::size_t(h) * w;
        for (int oy = 0; oy < ho; ++oy)
            for (int ox = 0; ox < wo; ++ox) {
                float best = -std::numeric_limits<float>::infinity();
                std::size_t where = 0;
                for (int ky = 0; ky < pool.kernel; ++ky)
                    for (int kx = 0; kx < pool.kernel; ++kx) {
                        const int iy = oy * pool.stride + ky - pool.padding, ix = ox * pool.stride + kx - pool.padding;
                        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                        const float v = in[iy * w + ix];
                        if (v > best) {
                            best = v;
                            where = std::size_t(iy * w + ix);
                        }
                    }
                const std::size_t out = (plane * ho + std::size_t(oy)) * wo + std::size_t(ox);
                y.data()[out] = best;
                if (argmax) (*argmax)[out] = where;
            }
    }
    return y;
}

// The input cells [first, last) of window `o` along an axis of `size` cells, the padding left out.
inline std::pair<int, int> window_cells(const Window& window, int o, int size) {
    const int first = o * window.stride - window.padding;
    return {std::max(0, first), std::min(size, first + window.extent)};
}

// The mean of each window, padding counted as zeros (PyTorch's AvgPool2d, count_include_pad=True).
inline Tensor4 average_pool(const Tensor4& x, const AveragePoolSpec& pool) {
    const std::size_t n = x.shape()[0], c = x.shape()[1];
    const int h = int(x.shape()[2]), w = int(x.shape()[3]);
    const int ho = pool.output_size(h), wo = pool.output_size(w);
    const double cells = double(pool.kernel) * pool.kernel;
    Tensor4 y = Tensor4::from_shape({n, c, std::size_t(ho), std::size_t(wo)});
    for (std::size_t plane = 0; plane < n * c; ++plane) {
        const float* in = x.data() + plane * std::size_t(h) * w;
        for (int oy = 0; oy < ho; ++oy)
            for (int ox = 0; ox < wo; ++ox) {
                const auto [y0, y1] = window_cells(pool.window(), oy, h);
                const auto [x0, x1] = window_cells(pool.window(), ox, w);
                double sum = 0;
                for (int iy = y0; iy < y1; ++iy)
                    for (int ix = x0; ix < x1; ++ix) sum += in[iy * w + ix];
                y.data()[(plane * ho + std::size_t(oy)) * wo + std::size_t(ox)] = float(sum / cells);
            }
    }
    return y;
}

// main += shortcut cropped to main's top-left H x W (the BagNet crop drops the
// shortcut's last rows and columns, it is not centred).
inline void add_cropped(Tensor4& main, const Tensor4& shortcut) {
    const std::size_t h = main.shape()[2], w = main.shape()[3];
    for (std::size_t i = 0; i < main.shape()[0]; ++i)
        for (std::size_t c = 0; c < main.shape()[1]; ++c)
            for (std::size_t y = 0; y < h; ++y)
                for (std::size_t x = 0; x < w; ++x) main(i, c, y, x) += shortcut(i, c, y, x);
}

// N x C x H x W -> N x H x W x classes: the linear head applied at every location.
inline Tensor4 per_location_linear(const Tensor4& x, const Tensor& weight, const Tensor& bias) {
    const std::size_t n = x.shape()[0], c = x.shape()[1], plane = x.shape()[2] * x.shape()[3];
    const std::size_t classes = weight.shape()[0];
    Tensor4 y = xt::zeros<float>({n, x.shape()[2], x.shape()[3], classes});
    ConstMatrixMap w(weight.data(), classes, c);
    for (std::size_t i = 0; i < n; ++i) {
        ConstMatrixMap features(x.data() + i * c * plane, c, plane);
        MatrixMap out(y.data() + i * plane * classes, plane, classes);
        out.noalias() = features.transpose() * w.transpose();
        out.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(bias.data(), classes);
    }
    return y;
}

// N x H x W x classes -> N x classes, the spatial mean.
inline Tensor2 spatial_mean(const Tensor4& map) {
    const std::size_t n = map.shape()[0], plane = map.shape()[1] * map.shape()[2], classes = map.shape()[3];
    Tensor2 y = xt::zeros<float>({n, classes});
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t p = 0; p < plane; ++p)
            for (std::size_t k = 0; k < classes; ++k) y(i, k) += map.data()[(i * plane + p) * classes + k];
    y /= float(plane);
    return y;
}

// Calls f(channel, pointer to that channel's plane in image i) over the batch.
template <class F>
void for_each_plane(const Tensor4& x, F&& f) {
    const std::size_t plane = x.shape()[2] * x.shape()[3];
    for (std::size_t i = 0; i < x.shape()[0]; ++i)
        for (std::size_t c = 0; c < x.shape()[1]; ++c) f(c, (i * x.shape()[1] + c) * plane, plane);
}

// N x C x H x W -> N x C x 1 x 1.
inline Tensor4 spatial_mean_nchw(const Tensor4& x) {
    Tensor4 y = xt::zeros<float>({x.shape()[0], x.shape()[1], std::size_t(1), std::size_t(1)});
    for_each_plane(x, [&](std::size_t, std::size_t offset, std::size_t plane) {
        double sum = 0;
        for (std::size_t j = 0; j < plane; ++j) sum += x.data()[offset + j];
        y.data()[offset / plane] = float(sum / double(plane));
    });
    return y;
}

// N x C x 1 x 1 -> N x K x 1 x 1 with a K x C weight.
inline Tensor4 linear(const Tensor4& x, const Tensor& weight, const Tensor& bias) {
    const Eigen::Index n = Eigen::Index(x.shape()[0]), c = Eigen::Index(x.shape()[1]), k = Eigen::Index(weight.shape()[0]);
    Tensor4 y = xt::zeros<float>({std::size_t(n), std::size_t(k), std::size_t(1), std::size_t(1)});
    MatrixMap(y.data(), n, k).noalias() = ConstMatrixMap(x.data(), n, c) * ConstMatrixMap(weight.data(), k, c).transpose();
    MatrixMap(y.data(), n, k).rowwise() += Eigen::Map<const Eigen::RowVectorXf>(bias.data(), k);
    return y;
}

}  // namespace bagnet::backend::reference
