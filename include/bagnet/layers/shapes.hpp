#pragma once
// What a graph's structure implies, derived rather than written down again: the
// shape of every value for an input shape (checked, with the layer that cannot
// take its input named), the spatial extent of the features before the head, the
// output stride and the receptive field along the main path.
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "bagnet/error.hpp"
#include "bagnet/layers/graph.hpp"
#include "bagnet/tensor.hpp"

namespace bagnet {

using Shape4 = std::array<std::size_t, 4>;

// The sliding window a layer applies along each spatial axis, if it has one. Every
// kind is listed, so a new kind states here whether it changes the geometry.
inline std::optional<Window> window_of(const Layer& layer) {
    switch (layer.kind) {
    case LayerKind::convolution: return layer.conv.window();
    case LayerKind::max_pool: return layer.pool.window();
    case LayerKind::average_pool: return layer.average_pool.window();
    case LayerKind::batch_norm:
    case LayerKind::relu:
    case LayerKind::add_cropped:
    case LayerKind::spatial_mean:
    case LayerKind::linear: return std::nullopt;
    }
    return std::nullopt;
}

// The shape of every value (N x C x H x W) for an input of shape `input`.
inline std::vector<Shape4> value_shapes(const Graph& graph, const Shape4& input) {
    std::vector<Shape4> shapes{input};
    shapes.reserve(graph.layers().size() + 1);
    for (const auto& layer : graph.layers()) {
        const Shape4 in = shapes[std::size_t(layer.input)];
        Shape4 out = in;
        switch (layer.kind) {
        case LayerKind::convolution: {
            const ConvSpec& conv = layer.conv;
            require(int(in[1]) == conv.in_channels, conv.name + " expects " + std::to_string(conv.in_channels) +
                                                        " input channels, got " + shape_string(in));
            require(in[2] + 2 * std::size_t(conv.padding) >= std::size_t(conv.extent()) &&
                        in[3] + 2 * std::size_t(conv.padding) >= std::size_t(conv.extent()),
                    conv.name + ": input " + shape_string(in) + " is smaller than its kernel");
            out = {in[0], std::size_t(conv.out_channels), std::size_t(conv.output_size(int(in[2]))),
                   std::size_t(conv.output_size(int(in[3])))};
            break;
        }
        case LayerKind::batch_norm:
            require(int(in[1]) == layer.batch_norm.channels, layer.batch_norm.name + " expects " +
                                                                 std::to_string(layer.batch_norm.channels) +
                                                                 " channels, got " + shape_string(in));
            break;
        case LayerKind::relu: break;
        case LayerKind::add_cropped: {
            const Shape4& shortcut = shapes[std::size_t(layer.shortcut)];
            require(shortcut[0] == in[0] && shortcut[1] == in[1] && shortcut[2] >= in[2] && shortcut[3] >= in[3],
                    "add_cropped: shortcut " + shape_string(shortcut) + " cannot be cropped to " + shape_string(in));
            break;
        }
        case LayerKind::max_pool:
        case LayerKind::average_pool: {
            const Window pool = *window_of(layer);
            require(in[2] + 2 * std::size_t(pool.padding) >= std::size_t(pool.extent) &&
                        in[3] + 2 * std::size_t(pool.padding) >= std::size_t(pool.extent),
                    std::string(layer.kind == LayerKind::max_pool ? "max-pool" : "average pool") + ": input " +
                        shape_string(in) + " is smaller than its window");
            out = {in[0], in[1], std::size_t(pool.output_size(int(in[2]))), std::size_t(pool.output_size(int(in[3])))};
            break;
        }
        case LayerKind::spatial_mean: out = {in[0], in[1], 1, 1}; break;
        case LayerKind::linear:
            require(in[1] == std::size_t(layer.linear.in_features) && in[2] == 1 && in[3] == 1,
                    layer.linear.name + " expects N x " + std::to_string(layer.linear.in_features) +
                        " x 1 x 1, got " + shape_string(in));
            out = {in[0], std::size_t(layer.linear.out_features), 1, 1};
            break;
        }
        shapes.push_back(out);
    }
    return shapes;
}

// A classifier graph ends in spatial_mean -> linear: the value averaged is its
// feature map, and the head applied at every location of it is its logit map.
struct Head {
    int features = 0;         // the value the spatial mean reads
    const LinearSpec* linear = nullptr;
};

inline Head head_of(const Graph& graph) {
    const auto& layers = graph.layers();
    const std::size_t n = layers.size();
    require(n >= 2 && layers[n - 1].kind == LayerKind::linear && layers[n - 2].kind == LayerKind::spatial_mean &&
                layers[n - 1].input == int(n - 1),
            "graph: a classifier must end in a spatial mean followed by a linear layer");
    return {layers[n - 2].input, &layers[n - 1].linear};
}

// The layers on the main path from the input to the features, input side first:
// each layer's `input` followed back (a crop-and-add's shortcut is off the main path).
inline std::vector<const Layer*> main_path(const Graph& graph) {
    std::vector<const Layer*> path;
    for (int v = head_of(graph).features; v != Graph::input; v = graph.layers()[std::size_t(v - 1)].input)
        path.insert(path.begin(), &graph.layers()[std::size_t(v - 1)]);
    return path;
}

// Spatial extent of the feature map for an input extent along one axis; < 1 if too small.
inline int feature_extent(const Graph& graph, int input) {
    int size = input;
    for (const Layer* layer : main_path(graph)) {
        if (const auto window = window_of(*layer)) size = window->output_size(size);
        if (size < 1) return 0;
    }
    return size;
}

// Pixels between neighbouring entries of the feature map: the product of the strides on the main path.
inline int output_stride(const Graph& graph) {
    int stride = 1;
    for (const Layer* layer : main_path(graph))
        if (const auto window = window_of(*layer)) stride *= window->stride;
    return stride;
}

// The side of the input square one feature-map entry sees along the main path
// (the shortcuts' 1x1 projections see no more).
inline int receptive_field(const Graph& graph) {
    int field = 1, jump = 1;
    for (const Layer* layer : main_path(graph))
        if (const auto window = window_of(*layer)) {
            field += (window->extent - 1) * jump;
            jump *= window->stride;
        }
    return field;
}

// Whether no convolution or pooling pads: then entry (i, j) of the feature map is a
// function of the receptive_field-sized input square at (s i, s j) alone.
inline bool pads(const Graph& graph) {
    for (const auto& layer : graph.layers())
        if (const auto window = window_of(layer); window && window->padding > 0) return true;
    return false;
}

}  // namespace bagnet
