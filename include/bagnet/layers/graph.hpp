#pragma once
// A network as a list of layers over numbered values: the one description every
// backend compiles (inference plans, training, the reference interpreter) and
// from which parameter keys, map sizes, strides and receptive fields are derived.
// Value 0 is the input; layer i writes value i + 1; the last value is the output.
//
//   Graph g;
//   int x = g.convolution(Graph::input, conv1);
//   x = g.relu(g.batch_norm(x, bn1));
//   g.linear(g.spatial_mean(x), fc);
#include <cstddef>
#include <string>
#include <vector>

#include "bagnet/error.hpp"
#include "bagnet/layers/spec.hpp"

namespace bagnet {

enum class LayerKind { convolution, batch_norm, relu, add_cropped, max_pool, average_pool, spatial_mean, linear };

struct Layer {
    LayerKind kind;
    int input = 0;
    int shortcut = -1;  // add_cropped: the value cropped to `input`'s size and added
    ConvSpec conv{};
    BatchNormSpec batch_norm{};
    LinearSpec linear{};
    MaxPoolSpec pool{};
    AveragePoolSpec average_pool{};
};

class Graph {
public:
    static constexpr int input = 0;

    int convolution(int x, ConvSpec spec) {
        require(spec.kernel >= 1 && spec.stride >= 1 && spec.dilation >= 1 && spec.padding >= 0 &&
                    spec.in_channels >= 1 && spec.out_channels >= 1,
                "graph: convolution " + spec.name + " has an impossible geometry");
        Layer layer{LayerKind::convolution, x};
        layer.conv = std::move(spec);
        return add(std::move(layer));
    }
    int batch_norm(int x, BatchNormSpec spec) {
        Layer layer{LayerKind::batch_norm, x};
        layer.batch_norm = std::move(spec);
        return add(std::move(layer));
    }
    int relu(int x) { return add({LayerKind::relu, x}); }
    // main + shortcut[:, :, :H, :W], the BagNet crop (top-left, not centred); with equal
    // sizes, the ResNet sum.
    int add_cropped(int main, int shortcut) {
        Layer layer{LayerKind::add_cropped, main};
        layer.shortcut = shortcut;
        return add(std::move(layer));
    }
    int max_pool(int x, MaxPoolSpec spec) {
        require_pooling_window(spec.window(), "max-pool");
        Layer layer{LayerKind::max_pool, x};
        layer.pool = spec;
        return add(std::move(layer));
    }
    int average_pool(int x, AveragePoolSpec spec) {
        require_pooling_window(spec.window(), "average pool");
        Layer layer{LayerKind::average_pool, x};
        layer.average_pool = spec;
        return add(std::move(layer));
    }
    // N x C x H x W -> N x C x 1 x 1.
    int spatial_mean(int x) { return add({LayerKind::spatial_mean, x}); }
    // N x C x 1 x 1 -> N x classes x 1 x 1.
    int linear(int x, LinearSpec spec) {
        Layer layer{LayerKind::linear, x};
        layer.linear = std::move(spec);
        return add(std::move(layer));
    }

    const std::vector<Layer>& layers() const { return layers_; }

    // The layers computing values 1 ... `value`: the network up to there (to read, or
    // to put another head on).
    Graph up_to(int value) const {
        require(value >= 0 && value <= output(), "graph: no value " + std::to_string(value));
        Graph g;
        g.layers_.assign(layers_.begin(), layers_.begin() + value);
        return g;
    }
    int output() const { return int(layers_.size()); }

    // How many layers read each value (a layer reading it twice counts twice).
    std::vector<int> readers() const {
        std::vector<int> count(layers_.size() + 1, 0);
        for (const auto& layer : layers_) {
            ++count[std::size_t(layer.input)];
            if (layer.shortcut >= 0) ++count[std::size_t(layer.shortcut)];
        }
        return count;
    }

private:
    // PyTorch's rule: every window then holds at least one input value.
    static void require_pooling_window(const Window& window, const std::string& kind) {
        require(window.extent >= 1 && window.stride >= 1 && window.padding >= 0 && 2 * window.padding <= window.extent,
                "graph: " + kind + " padding must be at most half its kernel");
    }

    int add(Layer layer) {
        const int next = int(layers_.size()) + 1;
        require(layer.input >= 0 && layer.input < next && layer.shortcut < next,
                "graph: a layer may only read values computed before it");
        layers_.push_back(std::move(layer));
        return next;
    }

    std::vector<Layer> layers_;
};

// How a fresh tensor is filled for training from scratch (Parameters::initial).
enum class Initial {
    he_normal,       // normal, standard deviation sqrt(2 / fan_in): convolutions
    uniform_fan_in,  // uniform in +-1/sqrt(fan_in), PyTorch's default for a linear layer's weight
    ones,            // batch-norm scale and running variance: the identity
    zeros,
};

// One tensor a layer owns, as PyTorch names and shapes it, and how it is made.
struct LayerTensor {
    std::string key;
    std::vector<std::size_t> shape;
    TensorSlot slot = TensorSlot::weight;
    Initial initial = Initial::zeros;
    std::size_t fan_in = 1;  // inputs per output, for the initialisations that scale by it

    // Running statistics and the counter follow the data; an optimizer updates the rest.
    bool trainable() const { return slot == TensorSlot::weight || slot == TensorSlot::bias; }
    // Batch norm's num_batches_tracked: an int64 in PyTorch files.
    bool is_counter() const { return slot == TensorSlot::num_batches_tracked; }
};

// The tensors of one layer, in state_dict order. Every kind is listed, so a new kind
// cannot be forgotten here (-Werror=switch).
inline std::vector<LayerTensor> tensors_of(const Layer& layer) {
    using S = TensorSlot;
    switch (layer.kind) {
    case LayerKind::convolution: {
        const ConvSpec& c = layer.conv;
        const std::size_t fan_in = std::size_t(c.in_channels) * std::size_t(c.kernel) * std::size_t(c.kernel);
        std::vector<LayerTensor> t{{key(c, S::weight), c.weight_shape(), S::weight, Initial::he_normal, fan_in}};
        if (c.bias) t.push_back({key(c, S::bias), {std::size_t(c.out_channels)}, S::bias, Initial::zeros});
        return t;
    }
    case LayerKind::batch_norm: {
        const BatchNormSpec& bn = layer.batch_norm;
        const std::vector<std::size_t> channels{std::size_t(bn.channels)};
        return {{key(bn, S::weight), channels, S::weight, Initial::ones},
                {key(bn, S::bias), channels, S::bias, Initial::zeros},
                {key(bn, S::running_mean), channels, S::running_mean, Initial::zeros},
                {key(bn, S::running_var), channels, S::running_var, Initial::ones},
                {key(bn, S::num_batches_tracked), {}, S::num_batches_tracked, Initial::zeros}};
    }
    case LayerKind::linear: {
        const LinearSpec& l = layer.linear;
        const std::size_t fan_in = std::size_t(l.in_features);
        return {{key(l, S::weight), {std::size_t(l.out_features), fan_in}, S::weight, Initial::uniform_fan_in, fan_in},
                {key(l, S::bias), {std::size_t(l.out_features)}, S::bias, Initial::zeros}};
    }
    case LayerKind::relu:
    case LayerKind::add_cropped:
    case LayerKind::max_pool:
    case LayerKind::average_pool:
    case LayerKind::spatial_mean: return {};
    }
    return {};
}

// Every tensor of a graph, in state_dict order.
inline std::vector<LayerTensor> tensors_of(const Graph& graph) {
    std::vector<LayerTensor> all;
    for (const auto& layer : graph.layers())
        for (auto& t : tensors_of(layer)) all.push_back(std::move(t));
    return all;
}

// The keys of the tensors an optimizer updates (batch-norm running statistics are not among them).
inline std::vector<std::string> trainable_keys(const Graph& graph) {
    std::vector<std::string> keys;
    for (const auto& t : tensors_of(graph))
        if (t.trainable()) keys.push_back(t.key);
    return keys;
}

}  // namespace bagnet
