#pragma once
// The reference backend runs the network exactly as the PyTorch model is written:
// separate convolution, batch norm, ReLU and shortcut layers, nothing folded.
#include "bagnet/arch.hpp"
#include "bagnet/backend/backend.hpp"
#include "bagnet/backend/reference/layers.hpp"
#include "bagnet/parameters.hpp"

namespace bagnet {

template <>
class Executor<reference> {
public:
    Tensor2 logits(const Architecture& arch, const Parameters& params, const Tensor4& x, Precision precision) {
        return reference_layers::spatial_mean(logit_map(arch, params, x, precision));
    }

    Tensor4 logit_map(const Architecture& arch, const Parameters& params, const Tensor4& x, Precision precision) {
        require(precision == Precision::fp32, "the reference backend computes in fp32 only");
        return reference_layers::per_location_linear(features(arch, params, x), params.at(arch.fc.name + ".weight"),
                                                     params.at(arch.fc.name + ".bias"));
    }

    // Parameters changed: nothing is cached here.
    void invalidate() {}

    // The final feature maps (N x C x H' x W') before the linear head.
    static Tensor4 features(const Architecture& arch, const Parameters& params, const Tensor4& x) {
        Tensor4 y = x;
        for (const auto& conv : arch.stem) y = convolve(y, conv, params);
        normalize(y, arch.stem_bn, params);
        reference_layers::relu(y);
        for (const auto& block : arch.blocks) {
            Tensor4 main = convolve(y, block.conv1, params);
            normalize(main, block.bn1, params);
            reference_layers::relu(main);
            main = convolve(main, block.conv2, params);
            normalize(main, block.bn2, params);
            reference_layers::relu(main);
            main = convolve(main, block.conv3, params);
            normalize(main, block.bn3, params);
            if (block.projection) {
                Tensor4 shortcut = convolve(y, *block.projection, params);
                normalize(shortcut, *block.projection_bn, params);
                reference_layers::add_cropped(main, shortcut);
            } else {
                reference_layers::add_cropped(main, y);
            }
            reference_layers::relu(main);
            y = std::move(main);
        }
        return y;
    }

private:
    static Tensor4 convolve(const Tensor4& x, const ConvSpec& conv, const Parameters& params) {
        const Tensor* bias = conv.bias ? &params.at(conv.name + ".bias") : nullptr;
        return reference_layers::conv2d(x, conv, params.at(conv.name + ".weight"), bias);
    }
    static void normalize(Tensor4& x, const BatchNormSpec& bn, const Parameters& params) {
        reference_layers::batch_norm_inference(x, bn, params.at(bn.name + ".weight"), params.at(bn.name + ".bias"),
                                               params.at(bn.name + ".running_mean"),
                                               params.at(bn.name + ".running_var"));
    }
};

}  // namespace bagnet
