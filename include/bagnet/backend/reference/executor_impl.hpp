#pragma once
// Definitions for executor.hpp, which includes this file when header-only; bagnet::compiled
// compiles them once (bagnet/instances.hpp). Included nowhere else.
#include <utility>
#include <vector>

#include "bagnet/backend/reference/layers.hpp"
#include "bagnet/layers/shapes.hpp"

namespace bagnet {

BAGNET_INLINE Tensor2 Executor<reference>::logits(const Architecture& arch, const Parameters& params,
                                                  const ImagesView& x, Precision precision) {
    return backend::reference::spatial_mean(logit_map(arch, params, x, precision));
}

BAGNET_INLINE Tensor4 Executor<reference>::logit_map(const Architecture& arch, const Parameters& params,
                                                     const ImagesView& x, Precision precision) {
    require(precision == Precision::fp32, "the reference backend computes in fp32 only");
    const Head head = head_of(arch.graph);
    return backend::reference::per_location_linear(value(arch.graph, params, to_tensor(x), head.features),
                                                 params.at(key(*head.linear, TensorSlot::weight)),
                                                 params.at(key(*head.linear, TensorSlot::bias)));
}

BAGNET_INLINE Tensor4 Executor<reference>::value(const Graph& graph, const Parameters& params, Tensor4 x, int wanted) {
    namespace ref = backend::reference;
    value_shapes(graph, {x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]});  // every shape checked first
    const auto& layers = graph.layers();
    std::vector<int> last_reader(layers.size() + 1, -1);
    for (std::size_t i = 0; i < layers.size(); ++i) {
        last_reader[std::size_t(layers[i].input)] = int(i);
        if (layers[i].shortcut >= 0) last_reader[std::size_t(layers[i].shortcut)] = int(i);
    }
    std::vector<Tensor4> values(layers.size() + 1);
    values[0] = std::move(x);
    for (std::size_t i = 0; i < std::size_t(wanted); ++i) {
        const Layer& layer = layers[i];
        const Tensor4& in = values[std::size_t(layer.input)];
        Tensor4 y;
        switch (layer.kind) {
        case LayerKind::convolution: {
            const Tensor* bias = layer.conv.bias ? &params.at(key(layer.conv, TensorSlot::bias)) : nullptr;
            y = ref::conv2d(in, layer.conv, params.at(key(layer.conv, TensorSlot::weight)), bias);
            break;
        }
        case LayerKind::batch_norm: {
            const BatchNormSpec& bn = layer.batch_norm;
            y = in;
            ref::batch_norm_inference(y, bn, params.at(key(bn, TensorSlot::weight)), params.at(key(bn, TensorSlot::bias)),
                                      params.at(key(bn, TensorSlot::running_mean)),
                                      params.at(key(bn, TensorSlot::running_var)));
            break;
        }
        case LayerKind::relu:
            y = in;
            ref::relu(y);
            break;
        case LayerKind::add_cropped:
            y = in;
            ref::add_cropped(y, values[std::size_t(layer.shortcut)]);
            break;
        case LayerKind::max_pool: y = ref::max_pool(in, layer.pool); break;
        case LayerKind::average_pool: y = ref::average_pool(in, layer.average_pool); break;
        case LayerKind::spatial_mean:
        case LayerKind::linear:
            throw Error("internal: the reference executor evaluates the layers before the head");
        }
        values[i + 1] = std::move(y);
        for (std::size_t v = 0; v <= i; ++v)
            if (last_reader[v] == int(i) && int(v) != wanted) values[v] = Tensor4();
    }
    return values[std::size_t(wanted)];
}

}  // namespace bagnet
