#pragma once
// The reference backend's training ops: batch norm with batch statistics and the
// backward pass of every layer, written as directly as the maths, on Eigen.
// Per-channel sums accumulate in double so that they stay a trustworthy yardstick.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <vector>

#include "bagnet/backend/reference/layers.hpp"
#include "bagnet/layers/contract.hpp"

namespace bagnet::backend::reference {

// The training contract's types (layers/contract.hpp), here on plain tensors.
using train::BatchStatistics;
using train::LayerGradients;
using ConvGradients = LayerGradients<>;
using BatchNormGradients = LayerGradients<>;

// Adds a (C*k*k) x (Ho*Wo) matrix of patch gradients back onto the image they came from.
inline void col2im(const RowMatrix& columns, float* image, int channels, int height, int width, const ConvSpec& conv) {
    const int ho = conv.output_size(height), wo = conv.output_size(width), k = conv.kernel;
    for (int c = 0; c < channels; ++c)
        for (int ky = 0; ky < k; ++ky)
            for (int kx = 0; kx < k; ++kx) {
                const float* row = columns.data() + ((c * k + ky) * k + kx) * ho * wo;
                for (int y = 0; y < ho; ++y) {
                    const int iy = y * conv.stride + ky * conv.dilation - conv.padding;
                    if (iy < 0 || iy >= height) continue;
                    for (int x = 0; x < wo; ++x) {
                        const int ix = x * conv.stride + kx * conv.dilation - conv.padding;
                        if (ix >= 0 && ix < width) image[(c * height + iy) * width + ix] += row[y * wo + x];
                    }
                }
            }
}

inline ConvGradients conv2d_backward(const Tensor4& x, const Tensor4& dy, const ConvSpec& conv, const Tensor& weight,
                                     bool input_gradient) {
    const int n = int(x.shape()[0]), c = int(x.shape()[1]), h = int(x.shape()[2]), w = int(x.shape()[3]);
    const int out = conv.out_channels, plane = int(dy.shape()[2] * dy.shape()[3]), patch = c * conv.kernel * conv.kernel;
    ConvGradients g;
    g.weight = xt::zeros<float>(conv.weight_shape());
    MatrixMap dw(g.weight.data(), out, patch);
    if (input_gradient) g.input = xt::zeros<float>(x.shape());
    ConstMatrixMap kernel(weight.data(), out, patch);
    for (int i = 0; i < n; ++i) {
        ConstMatrixMap dyi(dy.data() + std::size_t(i) * out * plane, out, plane);
        dw.noalias() += dyi * im2col(x.data() + std::size_t(i) * c * h * w, c, h, w, conv).transpose();
        if (input_gradient) {
            const RowMatrix columns = kernel.transpose() * dyi;
            col2im(columns, g.input.data() + std::size_t(i) * c * h * w, c, h, w, conv);
        }
    }
    if (conv.bias) {
        g.bias = xt::zeros<float>({std::size_t(out)});
        for (int o = 0; o < out; ++o) {
            double sum = 0;
            for (int i = 0; i < n; ++i)
                for (int p = 0; p < plane; ++p) sum += dy.data()[(std::size_t(i) * out + o) * plane + p];
            g.bias(o) = float(sum);
        }
    }
    return g;
}

inline BatchStatistics batch_statistics(const Tensor4& x) {
    const std::size_t channels = x.shape()[1];
    std::vector<double> sum(channels, 0.0), squares(channels, 0.0);
    const double count = double(x.size() / channels);
    for_each_plane(x, [&](std::size_t c, std::size_t offset, std::size_t plane) {
        for (std::size_t j = 0; j < plane; ++j) sum[c] += x.data()[offset + j];
    });
    for_each_plane(x, [&](std::size_t c, std::size_t offset, std::size_t plane) {
        const double mean = sum[c] / count;
        for (std::size_t j = 0; j < plane; ++j) {
            const double d = x.data()[offset + j] - mean;
            squares[c] += d * d;
        }
    });
    BatchStatistics stats{xt::zeros<float>({channels}), xt::zeros<float>({channels})};
    for (std::size_t c = 0; c < channels; ++c) {
        stats.mean(c) = float(sum[c] / count);
        stats.variance(c) = float(squares[c] / count);
    }
    return stats;
}

// Backward of y = (x - mean) / sqrt(var + eps) * gamma + beta. In training mode
// mean and var are the batch's own, so they depend on x too; in evaluation mode
// they are the running statistics, constants.
inline BatchNormGradients batch_norm_backward(const Tensor4& x, const Tensor4& dy, const BatchStatistics& stats,
                                              const Tensor& gamma, double eps, bool training, bool input_gradient) {
    const std::size_t channels = x.shape()[1];
    const double count = double(x.size() / channels);
    std::vector<double> inv_std(channels), dbeta(channels, 0.0), dgamma(channels, 0.0);
    for (std::size_t c = 0; c < channels; ++c) inv_std[c] = 1.0 / std::sqrt(double(stats.variance(c)) + eps);
    for_each_plane(x, [&](std::size_t c, std::size_t offset, std::size_t plane) {
        for (std::size_t j = 0; j < plane; ++j) {
            const double xhat = (x.data()[offset + j] - double(stats.mean(c))) * inv_std[c];
            dbeta[c] += dy.data()[offset + j];
            dgamma[c] += dy.data()[offset + j] * xhat;
        }
    });
    BatchNormGradients g{{}, xt::zeros<float>({channels}), xt::zeros<float>({channels})};
    for (std::size_t c = 0; c < channels; ++c) {
        g.weight(c) = float(dgamma[c]);
        g.bias(c) = float(dbeta[c]);
    }
    if (!input_gradient) return g;
    g.input = xt::zeros<float>(x.shape());
    for_each_plane(x, [&](std::size_t c, std::size_t offset, std::size_t plane) {
        const double scale = double(gamma(c)) * inv_std[c];
        for (std::size_t j = 0; j < plane; ++j) {
            double d = dy.data()[offset + j];
            if (training) {
                const double xhat = (x.data()[offset + j] - double(stats.mean(c))) * inv_std[c];
                d -= (dbeta[c] + xhat * dgamma[c]) / count;
            }
            g.input.data()[offset + j] = float(scale * d);
        }
    });
    return g;
}

// ReLU's gradient from its output: it passes where the output is positive.
inline Tensor4 relu_backward(const Tensor4& y, const Tensor4& dy) {
    Tensor4 dx = dy;
    for (std::size_t i = 0; i < dx.size(); ++i)
        if (!(y.data()[i] > 0.f)) dx.data()[i] = 0.f;
    return dx;
}

// d x of max_pool: each output's gradient goes to its window's maximum, summed where windows overlap.
inline Tensor4 max_pool_backward(const Tensor4& x, const Tensor4& dy, const MaxPoolSpec& pool) {
    std::vector<std::size_t> argmax;
    max_pool(x, pool, &argmax);
    Tensor4 dx = xt::zeros<float>(x.shape());
    const std::size_t plane_in = x.shape()[2] * x.shape()[3], plane_out = dy.shape()[2] * dy.shape()[3];
    for (std::size_t j = 0; j < dy.size(); ++j) dx.data()[(j / plane_out) * plane_in + argmax[j]] += dy.data()[j];
    return dx;
}

// d x of average_pool: each output's gradient shared by its window's kernel x kernel cells (those in
// the padding drop it), summed where windows overlap.
inline Tensor4 average_pool_backward(const Tensor4& x, const Tensor4& dy, const AveragePoolSpec& pool) {
    const int h = int(x.shape()[2]), w = int(x.shape()[3]), ho = int(dy.shape()[2]), wo = int(dy.shape()[3]);
    const float share = 1.f / float(pool.kernel * pool.kernel);
    Tensor4 dx = xt::zeros<float>(x.shape());
    for (std::size_t plane = 0; plane < x.shape()[0] * x.shape()[1]; ++plane) {
        float* d = dx.data() + plane * std::size_t(h) * w;
        for (int oy = 0; oy < ho; ++oy)
            for (int ox = 0; ox < wo; ++ox) {
                const float g = dy.data()[(plane * ho + std::size_t(oy)) * wo + std::size_t(ox)] * share;
                const auto [y0, y1] = window_cells(pool.window(), oy, h);
                const auto [x0, x1] = window_cells(pool.window(), ox, w);
                for (int iy = y0; iy < y1; ++iy)
                    for (int ix = x0; ix < x1; ++ix) d[iy * w + ix] += g;
            }
    }
    return dx;
}

// The shortcut's gradient of add_cropped: dy on the kept top-left part, zero on the dropped rows and columns.
inline Tensor4 uncrop(const Tensor4& dy, const std::array<std::size_t, 4>& shortcut_shape) {
    Tensor4 d = xt::zeros<float>(shortcut_shape);
    for (std::size_t i = 0; i < dy.shape()[0]; ++i)
        for (std::size_t c = 0; c < dy.shape()[1]; ++c)
            for (std::size_t y = 0; y < dy.shape()[2]; ++y)
                for (std::size_t x = 0; x < dy.shape()[3]; ++x) d(i, c, y, x) = dy(i, c, y, x);
    return d;
}

inline Tensor4 spatial_mean_backward(const Tensor4& dy, const std::array<std::size_t, 4>& input_shape) {
    Tensor4 dx = xt::zeros<float>(input_shape);
    const std::size_t plane = input_shape[2] * input_shape[3];
    for (std::size_t j = 0; j < dy.size(); ++j)
        std::fill_n(dx.data() + j * plane, plane, dy.data()[j] / float(plane));
    return dx;
}

struct LinearGradients {
    Tensor4 input;
    Tensor weight, bias;
};

inline LinearGradients linear_backward(const Tensor4& x, const Tensor4& dy, const Tensor& weight) {
    const Eigen::Index n = Eigen::Index(x.shape()[0]), c = Eigen::Index(x.shape()[1]), k = Eigen::Index(weight.shape()[0]);
    LinearGradients g{xt::zeros<float>(x.shape()), xt::zeros<float>(weight.shape()), xt::zeros<float>({std::size_t(k)})};
    ConstMatrixMap d(dy.data(), n, k);
    MatrixMap(g.input.data(), n, c).noalias() = d * ConstMatrixMap(weight.data(), k, c);
    MatrixMap(g.weight.data(), k, c).noalias() = d.transpose() * ConstMatrixMap(x.data(), n, c);
    Eigen::Map<Eigen::RowVectorXf>(g.bias.data(), k) = d.colwise().sum();
    return g;
}

}  // namespace bagnet::backend::reference
