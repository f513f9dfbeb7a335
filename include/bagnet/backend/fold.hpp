#pragma once
// Layer algebra shared by the fast backends and training: a convolution followed by a batch
// norm in eval mode is one convolution with a bias, and a chain of linear
// stride-1 convolutions (the BagNet stem's 1x1 then 3x3) is one convolution;
// training differentiates through that composition (split_composed_gradient).
// Computed in double so the folded weights are as exact as the fp32 originals.
#include <cmath>
#include <utility>
#include <vector>

#include "bagnet/layers/graph.hpp"
#include "bagnet/error.hpp"
#include "bagnet/parameters.hpp"

namespace bagnet {

struct FoldedConv {
    ConvSpec spec;  // geometry; spec.bias is true
    Tensor weight;  // O x I x k x k
    Tensor bias;    // O
};

// Composes convolutions applied one after the other without nonlinearity. All but
// the last must have stride 1; none may pad (padding would not commute with composition).
inline FoldedConv compose_convolutions(const std::vector<ConvSpec>& convs, const Parameters& params) {
    require(!convs.empty(), "nothing to compose");
    const ConvSpec& first = convs.front();
    FoldedConv result{first, params.at(key(first, TensorSlot::weight)),
                      first.bias ? params.at(key(first, TensorSlot::bias)) : Tensor(xt::zeros<float>({std::size_t(first.out_channels)}))};
    require(convs.size() == 1 || first.padding == 0, "cannot compose padded convolution " + first.name);
    for (std::size_t i = 1; i < convs.size(); ++i) {
        const ConvSpec& next = convs[i];
        require(result.spec.stride == 1 && next.padding == 0 && !next.bias && !result.spec.bias,
                "cannot compose " + result.spec.name + " with " + next.name);
        const Tensor& b = params.at(key(next, TensorSlot::weight));  // O x M x kb x kb
        const Tensor& a = result.weight;                     // M x C x ka x ka
        const int out = next.out_channels, mid = next.in_channels, in = result.spec.in_channels;
        const int ka = result.spec.kernel, kb = next.kernel, k = ka + kb - 1;
        // Spaced taps compose only after a 1x1 convolution (which has no taps to space).
        require(ka == 1 || (result.spec.dilation == 1 && next.dilation == 1),
                "cannot compose dilated convolution " + next.name + " with " + result.spec.name);
        Tensor combined = xt::zeros<float>({std::size_t(out), std::size_t(in), std::size_t(k), std::size_t(k)});
        for (int o = 0; o < out; ++o)
            for (int c = 0; c < in; ++c)
                for (int u = 0; u < k; ++u)
                    for (int v = 0; v < k; ++v) {
                        double sum = 0;
                        for (int m = 0; m < mid; ++m)
                            for (int i = std::max(0, u - ka + 1); i <= std::min(kb - 1, u); ++i)
                                for (int j = std::max(0, v - ka + 1); j <= std::min(kb - 1, v); ++j)
                                    sum += double(b(o, m, i, j)) * double(a(m, c, u - i, v - j));
                        combined(o, c, u, v) = float(sum);
                    }
        result.spec = ConvSpec{first.name + "+" + next.name, in, out, k, next.stride, 0, false, next.dilation};
        result.weight = std::move(combined);
        result.bias = xt::zeros<float>({std::size_t(out)});
    }
    result.spec.bias = true;
    return result;
}

// The adjoint of composing a 1x1 convolution with weight `a` (M x C x 1 x 1) and
// the convolution after it, weight `b` (O x M x k x k), into one of weight
// c[o, i, u, v] = sum_m b[o, m, u, v] a[m, i]: from d loss / d c, the gradients of b and a.
inline std::pair<Tensor, Tensor> split_composed_gradient(const Tensor& dc, const Tensor& b, const Tensor& a) {
    require(a.dimension() == 4 && b.dimension() == 4 && a.shape()[2] == 1 && a.shape()[3] == 1 &&
                a.shape()[0] == b.shape()[1] && dc.shape()[0] == b.shape()[0] &&
                dc.shape()[1] == a.shape()[1],
            "split_composed_gradient: the weights do not compose");
    const std::size_t out = b.shape()[0], mid = b.shape()[1], in = a.shape()[1],
                      taps = b.shape()[2] * b.shape()[3];
    Tensor db = xt::zeros<float>(b.shape()), da = xt::zeros<float>(a.shape());
    for (std::size_t o = 0; o < out; ++o)
        for (std::size_t m = 0; m < mid; ++m)
            for (std::size_t t = 0; t < taps; ++t) {
                double sum = 0;
                for (std::size_t i = 0; i < in; ++i)
                    sum += double(dc.data()[(o * in + i) * taps + t]) * a.data()[m * in + i];
                db.data()[(o * mid + m) * taps + t] = float(sum);
            }
    for (std::size_t m = 0; m < mid; ++m)
        for (std::size_t i = 0; i < in; ++i) {
            double sum = 0;
            for (std::size_t o = 0; o < out; ++o)
                for (std::size_t t = 0; t < taps; ++t)
                    sum += double(dc.data()[(o * in + i) * taps + t]) * b.data()[(o * mid + m) * taps + t];
            da.data()[m * in + i] = float(sum);
        }
    return {std::move(db), std::move(da)};
}

// Folds an eval-mode batch norm into the convolution before it:
// w' = w * gamma / sqrt(var + eps), b' = beta + (b - mean) * gamma / sqrt(var + eps).
inline FoldedConv fold_batch_norm(FoldedConv conv, const BatchNormSpec& bn, const Parameters& params) {
    const Tensor& gamma = params.at(key(bn, TensorSlot::weight));
    const Tensor& beta = params.at(key(bn, TensorSlot::bias));
    const Tensor& mean = params.at(key(bn, TensorSlot::running_mean));
    const Tensor& var = params.at(key(bn, TensorSlot::running_var));
    const std::size_t per_output = conv.weight.size() / conv.weight.shape()[0];
    for (std::size_t o = 0; o < conv.weight.shape()[0]; ++o) {
        const double scale = double(gamma(o)) / std::sqrt(double(var(o)) + bn.eps);
        float* w = conv.weight.data() + o * per_output;
        for (std::size_t i = 0; i < per_output; ++i) w[i] = float(double(w[i]) * scale);
        conv.bias(o) = float(double(beta(o)) + (double(conv.bias(o)) - double(mean(o))) * scale);
    }
    conv.spec.bias = true;
    return conv;
}

// Whether convolution layer i, a bias-free 1x1 read only by the convolution after it
// (the BagNet stem), is best composed with it: where that costs fewer multiplications
// per output location. For BagNet-33 the stem's 3x3 convolution then sees 3 input
// channels instead of 64. `readers` is graph.readers().
inline bool composes_with_next(const Graph& graph, const std::vector<int>& readers, std::size_t i) {
    const auto& layers = graph.layers();
    if (i + 1 >= layers.size() || layers[i].kind != LayerKind::convolution ||
        layers[i + 1].kind != LayerKind::convolution || layers[i + 1].input != int(i + 1) || readers[i + 1] != 1)
        return false;
    const ConvSpec& a = layers[i].conv;
    const ConvSpec& b = layers[i + 1].conv;
    const long taps = long(b.kernel) * b.kernel, composed_cost = long(a.in_channels) * b.out_channels * taps;
    const long separate_cost = long(a.in_channels) * a.out_channels + long(a.out_channels) * b.out_channels * taps;
    return a.kernel == 1 && a.stride == 1 && a.padding == 0 && !a.bias && composed_cost <= separate_cost;
}

// Convolutions i - 1 and i of a graph as one (composes_with_next(graph, readers, i - 1)).
// The composed convolution keeps layer i's geometry and bias, with layer i - 1's input channels.
inline FoldedConv composed_convolution(const Graph& graph, std::size_t i, const Parameters& params) {
    const auto& layers = graph.layers();
    ConvSpec second = layers[i].conv;
    second.padding = 0;  // a 1x1 convolution without bias maps zero padding to zero padding
    second.bias = false;
    FoldedConv composed = compose_convolutions({layers[i - 1].conv, second}, params);
    composed.spec = layers[i].conv;
    composed.spec.in_channels = layers[i - 1].conv.in_channels;
    return composed;
}

}  // namespace bagnet
