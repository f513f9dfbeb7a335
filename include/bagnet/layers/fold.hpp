#pragma once
// Inference-time algebra shared by the fast backends: a convolution followed by
// a batch norm in eval mode is one convolution with a bias, and a chain of
// linear stride-1 convolutions (the BagNet stem's 1x1 then 3x3) is one convolution.
// Computed in double so the folded weights are as exact as the fp32 originals.
#include <cmath>
#include <vector>

#include "bagnet/arch.hpp"
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
    FoldedConv result{first, params.at(first.name + ".weight"),
                      first.bias ? params.at(first.name + ".bias") : Tensor(xt::zeros<float>({std::size_t(first.out_channels)}))};
    require(first.padding == 0, "cannot compose padded convolution " + first.name);
    for (std::size_t i = 1; i < convs.size(); ++i) {
        const ConvSpec& next = convs[i];
        require(result.spec.stride == 1 && next.padding == 0 && !next.bias && !result.spec.bias,
                "cannot compose " + result.spec.name + " with " + next.name);
        const Tensor& b = params.at(next.name + ".weight");  // O x M x kb x kb
        const Tensor& a = result.weight;                     // M x C x ka x ka
        const int out = next.out_channels, mid = next.in_channels, in = result.spec.in_channels;
        const int ka = result.spec.kernel, kb = next.kernel, k = ka + kb - 1;
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
        result.spec = ConvSpec{first.name + "+" + next.name, in, out, k, next.stride, 0, false};
        result.weight = std::move(combined);
        result.bias = xt::zeros<float>({std::size_t(out)});
    }
    result.spec.bias = true;
    return result;
}

// Folds an eval-mode batch norm into the convolution before it:
// w' = w * gamma / sqrt(var + eps), b' = beta + (b - mean) * gamma / sqrt(var + eps).
inline FoldedConv fold_batch_norm(FoldedConv conv, const BatchNormSpec& bn, const Parameters& params) {
    const Tensor& gamma = params.at(bn.name + ".weight");
    const Tensor& beta = params.at(bn.name + ".bias");
    const Tensor& mean = params.at(bn.name + ".running_mean");
    const Tensor& var = params.at(bn.name + ".running_var");
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

inline FoldedConv fold_conv_bn(const ConvSpec& conv, const BatchNormSpec& bn, const Parameters& params) {
    return fold_batch_norm(compose_convolutions({conv}, params), bn, params);
}

inline FoldedConv fold_stem(const Architecture& arch, const Parameters& params) {
    return fold_batch_norm(compose_convolutions(arch.stem, params), arch.stem_bn, params);
}

}  // namespace bagnet
