#pragma once
// A network as a list of layers over numbered values, which is all backprop needs
// to know about it. Value 0 is the input; layer i writes value i + 1; the last
// value is the output. Any network composed of these layers gets gradients: the
// BagNets (graph_of below), but also a padded ResNet written with the same calls.
//
//   Graph g;
//   int x = g.convolution(Graph::input, conv1);
//   x = g.relu(g.batch_norm(x, bn1));
//   g.linear(g.spatial_mean(x), fc);
#include <string>
#include <vector>

#include "bagnet/arch.hpp"
#include "bagnet/error.hpp"

namespace bagnet::train {

enum class LayerKind { convolution, batch_norm, relu, add_cropped, spatial_mean, linear };

struct Layer {
    LayerKind kind;
    int input = 0;
    int shortcut = -1;  // add_cropped: the value cropped to `input`'s size and added
    ConvSpec conv{};
    BatchNormSpec batch_norm{};
    LinearSpec linear{};
};

class Graph {
public:
    static constexpr int input = 0;

    int convolution(int x, ConvSpec spec) { return add({LayerKind::convolution, x, -1, std::move(spec), {}, {}}); }
    int batch_norm(int x, BatchNormSpec spec) { return add({LayerKind::batch_norm, x, -1, {}, std::move(spec), {}}); }
    int relu(int x) { return add({LayerKind::relu, x, -1, {}, {}, {}}); }
    // main + shortcut[:, :, :H, :W], the BagNet crop (top-left, not centred).
    int add_cropped(int main, int shortcut) { return add({LayerKind::add_cropped, main, shortcut, {}, {}, {}}); }
    // N x C x H x W -> N x C x 1 x 1.
    int spatial_mean(int x) { return add({LayerKind::spatial_mean, x, -1, {}, {}, {}}); }
    // N x C x 1 x 1 -> N x classes x 1 x 1.
    int linear(int x, LinearSpec spec) { return add({LayerKind::linear, x, -1, {}, {}, std::move(spec)}); }

    const std::vector<Layer>& layers() const { return layers_; }
    int output() const { return int(layers_.size()); }

private:
    int add(Layer layer) {
        const int next = int(layers_.size()) + 1;
        require(layer.input >= 0 && layer.input < next && layer.shortcut < next,
                "graph: a layer may only read values computed before it");
        layers_.push_back(std::move(layer));
        return next;
    }

    std::vector<Layer> layers_;
};

// The BagNet of an architecture as a graph computing its logits (N x classes x 1 x 1):
// the spatial mean is taken before the linear head, which is the same function
// as averaging the per-location logits, for a fraction of the work.
inline Graph graph_of(const Architecture& arch) {
    Graph g;
    int x = Graph::input;
    for (const auto& conv : arch.stem) x = g.convolution(x, conv);
    x = g.relu(g.batch_norm(x, arch.stem_bn));
    for (const auto& block : arch.blocks) {
        int main = g.relu(g.batch_norm(g.convolution(x, block.conv1), block.bn1));
        main = g.relu(g.batch_norm(g.convolution(main, block.conv2), block.bn2));
        main = g.batch_norm(g.convolution(main, block.conv3), block.bn3);
        const int shortcut =
            block.projection ? g.batch_norm(g.convolution(x, *block.projection), *block.projection_bn) : x;
        x = g.relu(g.add_cropped(main, shortcut));
    }
    g.linear(g.spatial_mean(x), arch.fc);
    return g;
}

// The keys of the tensors an optimizer updates (batch-norm running statistics are not among them).
inline std::vector<std::string> trainable_keys(const Graph& graph) {
    std::vector<std::string> keys;
    for (const auto& layer : graph.layers()) {
        if (layer.kind == LayerKind::convolution) {
            keys.push_back(layer.conv.name + ".weight");
            if (layer.conv.bias) keys.push_back(layer.conv.name + ".bias");
        } else if (layer.kind == LayerKind::batch_norm) {
            keys.push_back(layer.batch_norm.name + ".weight");
            keys.push_back(layer.batch_norm.name + ".bias");
        } else if (layer.kind == LayerKind::linear) {
            keys.push_back(layer.linear.name + ".weight");
            keys.push_back(layer.linear.name + ".bias");
        }
    }
    return keys;
}

}  // namespace bagnet::train
