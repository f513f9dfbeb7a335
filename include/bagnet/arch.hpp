#pragma once
// The networks bagnet knows: BagNet configurations (compile-time facts about a
// family of models), the graphs built from them, and a standard ResNet-50.
//
// A BagNet is a ResNet-50-like network whose receptive field is capped at q x q:
// only the first block of the first few stages keeps a 3x3 convolution, and no
// convolution pads. Which stages keep it follows from q: each 3x3 convolution
// widens the receptive field by twice the product of the strides before it.
#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

#include "bagnet/error.hpp"
#include "bagnet/instances.hpp"
#include "bagnet/layers/graph.hpp"
#include "bagnet/layers/shapes.hpp"

namespace bagnet {

// The published ImageNet models (Brendel & Bethge 2019), key for key.
struct imagenet {
    // The patch sizes with published weights (the layout also admits q = 3 and 5).
    static constexpr std::array<int, 3> published_patch_sizes{9, 17, 33};
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

// Every valid patch size of a configuration, smallest first.
template <class Config>
std::vector<int> valid_patch_sizes() {
    std::vector<int> sizes;
    for (int n = 0; n <= static_cast<int>(Config::widths.size()); ++n) sizes.push_back(receptive_field<Config>(n));
    return sizes;
}

// ---- The runtime description ----------------------------------------------

// A named network: its graph (the one description every backend compiles) and the
// facts about it that the explain and robustness code read.
struct Architecture {
    std::string name;    // e.g. "bagnet33"
    int patch_size = 0;  // q: the receptive field of a logit-map entry; 0 where convolutions pad
                         // (a standard CNN: its logit map has no patch geometry)
    int in_channels = 0;
    Graph graph;

    int classes() const { return head().out_features; }
    const LinearSpec& head() const { return *head_of(graph).linear; }

    // Spatial extent of the logit map for an input extent; < 1 if too small.
    int map_size(int input) const { return feature_extent(graph, input); }

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

inline ConvSpec conv(std::string name, int in, int out, int kernel, int stride, int padding = 0) {
    return ConvSpec{std::move(name), in, out, kernel, stride, padding, false};
}
inline BatchNormSpec batch_norm(std::string name, int channels, double momentum = 0.1) {
    return BatchNormSpec{std::move(name), channels, 1e-5, momentum};
}

// One bottleneck: conv1 (1x1) -> bn1 -> relu -> conv2 (k x k, the block's stride) -> bn2 -> relu
// -> conv3 (1x1) -> bn3, plus the shortcut (x, or a 1x1 projection + bn where the shape
// changes) cropped to the main path's top-left, then relu. Returns the block's output value.
inline int bottleneck(Graph& g, int x, const std::string& prefix, int in, int width, int kernel, int stride,
                      int padding, bool projection) {
    const int out = width * bottleneck_expansion;
    int main = g.relu(g.batch_norm(g.convolution(x, conv(prefix + "conv1", in, width, 1, 1)),
                                   batch_norm(prefix + "bn1", width)));
    main = g.relu(g.batch_norm(g.convolution(main, conv(prefix + "conv2", width, width, kernel, stride, padding)),
                               batch_norm(prefix + "bn2", width)));
    main = g.batch_norm(g.convolution(main, conv(prefix + "conv3", width, out, 1, 1)), batch_norm(prefix + "bn3", out));
    const int shortcut = projection ? g.batch_norm(g.convolution(x, conv(prefix + "downsample.0", in, out, 1, stride)),
                                                   batch_norm(prefix + "downsample.1", out))
                                    : x;
    return g.relu(g.add_cropped(main, shortcut));
}

// The key prefix of stage s's blocks, PyTorch's name ("layer1." for the first): spelled here only.
inline std::string stage_prefix(std::size_t stage) { return "layer" + std::to_string(stage + 1) + "."; }

// The four stages of bottlenecks of a configuration (the one block loop): stage s has
// Config::blocks[s] blocks of width Config::widths[s], the first with Config::strides[s]
// and a projection shortcut; kernel(s, i) and padding give block i's middle convolution.
template <class Config, class Kernel>
int bottleneck_stages(Graph& g, int x, int& channels, Kernel kernel, int padding) {
    for (std::size_t s = 0; s < Config::widths.size(); ++s)
        for (int i = 0; i < Config::blocks[s]; ++i) {
            const std::string prefix = stage_prefix(s) + std::to_string(i) + ".";
            x = bottleneck(g, x, prefix, channels, Config::widths[s], kernel(int(s), i), i == 0 ? Config::strides[s] : 1,
                           padding, i == 0);
            channels = Config::widths[s] * bottleneck_expansion;
        }
    return x;
}
}  // namespace detail

// The BagNet-q of a configuration; `classes` overrides the configuration's head size.
// Stem: a 1x1 and a 3x3 convolution without nonlinearity between them, then batch
// norm and ReLU; then the stages, no convolution padded; then the spatial mean and the
// linear head (the same function as averaging the per-location logits, for a fraction of the work).
template <class Config>
Architecture make_architecture(int q, int classes = Config::classes) {
    const int n3x3 = stages_with_3x3<Config>(q);
    require(n3x3 >= 0, "patch size " + std::to_string(q) + " is impossible for this configuration");
    require(classes >= 1, "the class count must be at least 1, got " + std::to_string(classes));
    Architecture arch{"bagnet" + std::to_string(q), q, Config::in_channels, {}};
    Graph& g = arch.graph;
    int x = g.convolution(Graph::input, detail::conv("conv1", Config::in_channels, Config::stem_width, 1, 1));
    x = g.convolution(x, detail::conv("conv2", Config::stem_width, Config::stem_width, 3, 1));
    x = g.relu(g.batch_norm(x, detail::batch_norm("bn1", Config::stem_width, detail::stem_bn_momentum<Config>::value)));
    int channels = Config::stem_width;
    x = detail::bottleneck_stages<Config>(
        g, x, channels, [&](int stage, int block) { return block == 0 && stage < n3x3 ? 3 : 1; }, 0);
    g.linear(g.spatial_mean(x), LinearSpec{"fc", channels, classes});
    require(receptive_field(g) == q && !pads(g), "internal: " + arch.name + " is not a bag of " + std::to_string(q) +
                                                     "-pixel patches");
    return arch;
}

// torchvision's resnet50 layout (version 1.5: the stride on the 3x3 convolution): the
// BagNets' widths and block counts, with the strides of a standard ResNet.
struct resnet50_layout {
    static constexpr std::array<int, 4> widths = imagenet::widths;
    static constexpr std::array<int, 4> blocks = imagenet::blocks;
    static constexpr std::array<int, 4> strides{1, 2, 2, 2};
};

// A standard ResNet-50, key for key torchvision's resnet50: 7x7 stride-2 padded stem,
// 3x3 stride-2 padded max-pool, padded 3x3 convolutions, global average pool, fc.
// The BagNets' comparison network: the same layers, the receptive field unbounded.
inline Architecture resnet50_architecture(int classes = imagenet::classes, int in_channels = 3) {
    require(classes >= 1, "the class count must be at least 1, got " + std::to_string(classes));
    Architecture arch{"resnet50", 0, in_channels, {}};
    Graph& g = arch.graph;
    int x = g.convolution(Graph::input, detail::conv("conv1", in_channels, 64, 7, 2, 3));
    x = g.max_pool(g.relu(g.batch_norm(x, detail::batch_norm("bn1", 64))), MaxPoolSpec{3, 2, 1});
    int channels = 64;
    x = detail::bottleneck_stages<resnet50_layout>(g, x, channels, [](int, int) { return 3; }, 1);
    g.linear(g.spatial_mean(x), LinearSpec{"fc", channels, classes});
    return arch;
}

// ---- Networks by name --------------------------------------------------------

// A family of named networks, "<prefix><q>": the patch sizes it has and how one is
// built. A new configuration becomes selectable by name (and in the command line's
// help) by adding one row to architecture_families().
struct ArchitectureFamily {
    std::string prefix;            // e.g. "fashion": names "fashion9", "fashion17", ...
    std::string description;       // for help texts, e.g. "28 x 28 grey"
    std::vector<int> patch_sizes;  // the valid q, smallest first
    Architecture (*make)(int q, int classes);  // classes 0: the configuration's own
};

namespace detail {
template <class Config>
Architecture named_architecture(const std::string& prefix, int q, int classes) {
    Architecture arch = make_architecture<Config>(q, classes > 0 ? classes : Config::classes);
    arch.name = prefix + std::to_string(q);
    return arch;
}

inline std::string patch_sizes_text(const std::vector<int>& sizes) {
    std::vector<std::string> items;
    for (int q : sizes) items.push_back(std::to_string(q));
    return listed(items, "or");
}
}  // namespace detail

// The key prefix of a network's last stage of bottlenecks ("layer4." in the BagNets and
// ResNet-50), found in its tensors.
inline std::string last_stage_prefix(const Architecture& arch) {
    const std::vector<LayerTensor> tensors = tensors_of(arch.graph);
    const auto has_stage = [&](std::size_t stage) {
        const std::string prefix = detail::stage_prefix(stage);
        return std::any_of(tensors.begin(), tensors.end(),
                           [&](const LayerTensor& t) { return t.key.compare(0, prefix.size(), prefix) == 0; });
    };
    require(has_stage(0), arch.name + " has no stages of bottleneck blocks");
    std::size_t last = 0;
    while (has_stage(last + 1)) ++last;
    return detail::stage_prefix(last);
}

inline const std::vector<ArchitectureFamily>& architecture_families() {
    static const std::vector<ArchitectureFamily> families{
        {"bagnet", "ImageNet, the published models",
         std::vector<int>(imagenet::published_patch_sizes.begin(), imagenet::published_patch_sizes.end()),
         [](int q, int classes) { return detail::named_architecture<imagenet>("bagnet", q, classes); }},
        {"fashion", "28 x 28 grey", valid_patch_sizes<fashion<>>(),
         [](int q, int classes) { return detail::named_architecture<fashion<>>("fashion", q, classes); }},
        {"fashionfine", "28 x 28 grey, output stride 2", valid_patch_sizes<fashion_fine<>>(),
         [](int q, int classes) { return detail::named_architecture<fashion_fine<>>("fashionfine", q, classes); }},
        {"small", "28 x 28 grey, wider", valid_patch_sizes<small<>>(),
         [](int q, int classes) { return detail::named_architecture<small<>>("small", q, classes); }},
    };
    return families;
}

// Every name architecture_by_name accepts, in one line for help and error texts.
inline std::string architecture_names() {
    std::string text;
    for (const auto& family : architecture_families())
        text += family.prefix + "<q> (" + family.description + "; q = " + detail::patch_sizes_text(family.patch_sizes) + "), ";
    return text + "resnet50 (torchvision's, for comparison)";
}

// Any named network: a family's "<prefix><q>" (architecture_families: "bagnet9|17|33"
// for ImageNet, "fashion<q>", "fashionfine<q>", "small<q>" for 28 x 28 grey images) or
// "resnet50" (torchvision's). `classes` > 0 overrides the configuration's head.
inline Architecture architecture_by_name(const std::string& name, int classes = 0) {
    if (name == "resnet50") return resnet50_architecture(classes > 0 ? classes : imagenet::classes);
    for (const auto& family : architecture_families()) {
        const std::string& prefix = family.prefix;
        if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
        const std::string digits = name.substr(prefix.size());
        if (digits.size() > 3 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
        const int q = std::stoi(digits);
        for (int valid : family.patch_sizes)
            if (q == valid) return family.make(q, classes);
    }
    throw Error("unknown architecture '" + name + "' (expected " + architecture_names() + ")");
}

// The published ImageNet BagNets by name ("bagnet9", "bagnet17", "bagnet33").
inline Architecture imagenet_architecture(const std::string& name, int classes = imagenet::classes) {
    for (int q : imagenet::published_patch_sizes)
        if (name == "bagnet" + std::to_string(q)) return make_architecture<imagenet>(q, classes);
    throw Error("unknown architecture '" + name + "' (expected bagnet9, bagnet17 or bagnet33)");
}

// The configurations bagnet::compiled builds (bagnet/instances.hpp).
#define BAGNET_ARCHITECTURE_INSTANCES(prefix)                     \
    prefix Architecture make_architecture<imagenet>(int, int);     \
    prefix Architecture make_architecture<fashion<>>(int, int);    \
    prefix Architecture make_architecture<fashion_fine<>>(int, int); \
    prefix Architecture make_architecture<small<>>(int, int);
#if BAGNET_COMPILED
BAGNET_ARCHITECTURE_INSTANCES(extern template)
#endif

}  // namespace bagnet
