#pragma once
// What a BagNet is made of: configurations (compile-time facts about a family of
// models) and the layer-by-layer description every backend executes.
//
// A BagNet is a ResNet-50-like network whose receptive field is capped at q x q:
// only the first block of the first few stages keeps a 3x3 convolution, and no
// convolution pads. Which stages keep it follows from q: each 3x3 convolution
// widens the receptive field by twice the product of the strides before it.
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "bagnet/error.hpp"

namespace bagnet {

// The published ImageNet models (Brendel & Bethge 2019), key for key.
struct imagenet {
    static constexpr int in_channels = 3;
    static constexpr int classes = 1000;
    static constexpr int stem_width = 64;
    static constexpr std::array<int, 4> widths{64, 128, 256, 512};
    static constexpr std::array<int, 4> blocks{3, 4, 6, 3};
    static constexpr std::array<int, 4> strides{2, 2, 2, 1};
};

// A small BagNet for small grey images (Fashion-MNIST: 28 x 28, 10 classes).
// Strides 2, 2, 1, 1 keep the logit map at 5 x 5 for q = 9 on 28 x 28 inputs.
template <int Classes = 10, int InChannels = 1>
struct small {
    static constexpr int in_channels = InChannels;
    static constexpr int classes = Classes;
    static constexpr int stem_width = 32;
    static constexpr std::array<int, 4> widths{32, 64, 128, 256};
    static constexpr std::array<int, 4> blocks{1, 1, 1, 1};
    static constexpr std::array<int, 4> strides{2, 2, 1, 1};
};

// The small BagNets `bagnet train --dataset fashion-mnist` trains: the layout of
// `small` at half the widths, cheap enough for a 2-core CPU to train in minutes.
// On 28 x 28 inputs q = 9 gives a 5 x 5 logit map, q = 17 a 3 x 3 one.
template <int Classes = 10, int InChannels = 1>
struct fashion {
    static constexpr int in_channels = InChannels;
    static constexpr int classes = Classes;
    static constexpr int stem_width = 16;
    // The published stem momentum (0.001) leaves the running statistics near their
    // initial values after a few epochs; from scratch, the stem uses the usual 0.1.
    static constexpr double stem_bn_momentum = 0.1;
    static constexpr std::array<int, 4> widths{16, 32, 64, 128};
    static constexpr std::array<int, 4> blocks{1, 1, 1, 1};
    static constexpr std::array<int, 4> strides{2, 2, 1, 1};
};

// `fashion` with a finer output stride, for certified patch robustness: the second
// stage keeps its resolution, so the output stride is 2 and q = 9 gives a 10 x 10
// logit map on 28 x 28 inputs (q = 5: 12 x 12). A patch of p x p pixels then touches
// ceil((p + q - 1) / 2) cells per axis, a small enough share of the map for a
// certificate to hold (with `fashion`'s 5 x 5 map a 4 x 4 patch touches 9 of the 25 cells).
// Valid q: 3, 5, 9, 13, 17.
template <int Classes = 10, int InChannels = 1>
struct fashion_fine : fashion<Classes, InChannels> {
    static constexpr std::array<int, 4> strides{2, 1, 1, 1};
};

constexpr int bottleneck_expansion = 4;
constexpr int stem_receptive_field = 3;

// Receptive field of a configuration whose first `stages_with_3x3` stages open
// with a 3x3 convolution.
template <class Config>
constexpr int receptive_field(int stages_with_3x3) {
    int field = stem_receptive_field;
    int jump = 1;  // product of the strides before the current layer
    for (int s = 0; s < stages_with_3x3; ++s) {
        field += 2 * jump;
        jump *= Config::strides[s];
    }
    return field;
}

// How many stages open with a 3x3 convolution for patch size q; -1 if none fits.
template <class Config>
constexpr int stages_with_3x3(int q) {
    for (int n = 0; n <= static_cast<int>(Config::widths.size()); ++n)
        if (receptive_field<Config>(n) == q) return n;
    return -1;
}

template <class Config>
constexpr bool valid_patch_size(int q) {
    return stages_with_3x3<Config>(q) >= 0;
}

// ---- The runtime description ----------------------------------------------

struct ConvSpec {
    std::string name;  // state_dict prefix, e.g. "layer1.0.conv2"
    int in_channels = 0, out_channels = 0, kernel = 1, stride = 1, padding = 0;
    bool bias = false;
    std::vector<std::size_t> weight_shape() const {
        return {std::size_t(out_channels), std::size_t(in_channels), std::size_t(kernel),
                std::size_t(kernel)};
    }
    // Output extent along one spatial axis; < 1 means the input is too small.
    int output_size(int input) const {
        const int span = input + 2 * padding - kernel;
        return span < 0 ? 0 : span / stride + 1;
    }
};

struct BatchNormSpec {
    std::string name;
    int channels = 0;
    double eps = 1e-5;
    double momentum = 0.1;  // PyTorch convention: new = (1 - m) old + m batch
};

// conv1 -> bn1 -> relu -> conv2 -> bn2 -> relu -> conv3 -> bn3, plus shortcut
// (identity or projection conv + bn), cropped to the main path's top-left, then relu.
struct BottleneckSpec {
    ConvSpec conv1, conv2, conv3;
    BatchNormSpec bn1, bn2, bn3;
    std::optional<ConvSpec> projection;
    std::optional<BatchNormSpec> projection_bn;
    int in_channels() const { return conv1.in_channels; }
    int out_channels() const { return conv3.out_channels; }
};

struct LinearSpec {
    std::string name;
    int in_features = 0, out_features = 0;
};

// Stem convolutions applied in sequence without a nonlinearity, then stem_bn, relu;
// then the bottleneck blocks; then a per-location linear classifier whose outputs
// are averaged over space.
struct Architecture {
    std::string name;  // e.g. "bagnet33"
    int patch_size = 0;
    int in_channels = 0;
    std::vector<ConvSpec> stem;
    BatchNormSpec stem_bn;
    std::vector<BottleneckSpec> blocks;
    LinearSpec fc;

    int classes() const { return fc.out_features; }

    // Spatial extent of the logit map for an input extent; < 1 if too small.
    int map_size(int input) const {
        int size = input;
        for (const auto& conv : stem) size = conv.output_size(size);
        for (const auto& block : blocks) {
            size = block.conv1.output_size(size);
            size = block.conv2.output_size(size);
            size = block.conv3.output_size(size);
        }
        return size;
    }

    // Smallest input extent that gives a logit map of at least 1 x 1.
    int min_input_size() const {
        int size = 1;
        while (map_size(size) < 1) ++size;
        return size;
    }
};

namespace detail {
// Config::stem_bn_momentum where a configuration defines it, else the published 0.001.
template <class Config, class = void>
struct stem_bn_momentum {
    static constexpr double value = 0.001;
};
template <class Config>
struct stem_bn_momentum<Config, std::void_t<decltype(Config::stem_bn_momentum)>> {
    static constexpr double value = Config::stem_bn_momentum;
};

inline ConvSpec conv(std::string name, int in, int out, int kernel, int stride) {
    return ConvSpec{std::move(name), in, out, kernel, stride, 0, false};
}
inline BatchNormSpec batch_norm(std::string name, int channels, double momentum = 0.1) {
    return BatchNormSpec{std::move(name), channels, 1e-5, momentum};
}
}  // namespace detail

// The BagNet-q of a configuration; `classes` overrides the configuration's head size.
template <class Config>
Architecture make_architecture(int q, int classes = Config::classes) {
    const int n3x3 = stages_with_3x3<Config>(q);
    require(n3x3 >= 0, "patch size " + std::to_string(q) + " is impossible for this configuration");
    require(classes >= 1, "the class count must be at least 1, got " + std::to_string(classes));
    using detail::batch_norm;
    using detail::conv;
    Architecture arch;
    arch.name = "bagnet" + std::to_string(q);
    arch.patch_size = q;
    arch.in_channels = Config::in_channels;
    arch.stem = {conv("conv1", Config::in_channels, Config::stem_width, 1, 1),
                 conv("conv2", Config::stem_width, Config::stem_width, 3, 1)};
    arch.stem_bn = batch_norm("bn1", Config::stem_width, detail::stem_bn_momentum<Config>::value);
    int channels = Config::stem_width;
    for (std::size_t s = 0; s < Config::widths.size(); ++s) {
        const int width = Config::widths[s];
        const int out = width * bottleneck_expansion;
        for (int i = 0; i < Config::blocks[s]; ++i) {
            const std::string prefix = "layer" + std::to_string(s + 1) + "." + std::to_string(i) + ".";
            const bool first = i == 0;
            const int stride = first ? Config::strides[s] : 1;
            const int kernel = first && int(s) < n3x3 ? 3 : 1;
            BottleneckSpec block;
            block.conv1 = conv(prefix + "conv1", channels, width, 1, 1);
            block.bn1 = batch_norm(prefix + "bn1", width);
            block.conv2 = conv(prefix + "conv2", width, width, kernel, stride);
            block.bn2 = batch_norm(prefix + "bn2", width);
            block.conv3 = conv(prefix + "conv3", width, out, 1, 1);
            block.bn3 = batch_norm(prefix + "bn3", out);
            if (first) {
                block.projection = conv(prefix + "downsample.0", channels, out, 1, stride);
                block.projection_bn = batch_norm(prefix + "downsample.1", out);
            }
            arch.blocks.push_back(std::move(block));
            channels = out;
        }
    }
    arch.fc = LinearSpec{"fc", channels, classes};
    return arch;
}

// Named ImageNet BagNets for run-time selection ("bagnet9", "bagnet17", "bagnet33").
inline Architecture imagenet_architecture(const std::string& name, int classes = imagenet::classes) {
    for (int q : {9, 17, 33})
        if (name == "bagnet" + std::to_string(q)) return make_architecture<imagenet>(q, classes);
    throw Error("unknown architecture '" + name + "' (expected bagnet9, bagnet17 or bagnet33)");
}

// Any named BagNet: "bagnet9|17|33" (ImageNet), "small<q>" and "fashion<q>" (28 x 28
// grey images; q = 3, 5, 9, 17 or 25), "fashionfine<q>" (output stride 2; q = 3, 5, 9,
// 13 or 17). `classes` > 0 overrides the configuration's head.
inline Architecture architecture_by_name(const std::string& name, int classes = 0) {
    auto patch_size = [&](const std::string& prefix) -> int {
        if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return -1;
        const std::string digits = name.substr(prefix.size());
        if (digits.size() > 3 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
        return std::stoi(digits);
    };
    const std::string known =
        "expected bagnet9, bagnet17, bagnet33, fashion<q> or small<q> with q = 3, 5, 9, 17 or 25, "
        "or fashionfine<q> with q = 3, 5, 9, 13 or 17";
    if (const int q = patch_size("bagnet"); q >= 0) {
        require(q == 9 || q == 17 || q == 33, "unknown architecture '" + name + "' (" + known + ")");
        return make_architecture<imagenet>(q, classes > 0 ? classes : imagenet::classes);
    }
    if (const int q = patch_size("fashion"); q >= 0 && valid_patch_size<fashion<>>(q)) {
        Architecture arch = make_architecture<fashion<>>(q, classes > 0 ? classes : fashion<>::classes);
        arch.name = name;
        return arch;
    }
    if (const int q = patch_size("fashionfine"); q >= 0 && valid_patch_size<fashion_fine<>>(q)) {
        Architecture arch = make_architecture<fashion_fine<>>(q, classes > 0 ? classes : fashion_fine<>::classes);
        arch.name = name;
        return arch;
    }
    if (const int q = patch_size("small"); q >= 0 && valid_patch_size<small<>>(q)) {
        Architecture arch = make_architecture<small<>>(q, classes > 0 ? classes : small<>::classes);
        arch.name = name;
        return arch;
    }
    throw Error("unknown architecture '" + name + "' (" + known + ")");
}

}  // namespace bagnet
