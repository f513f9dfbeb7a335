#pragma once
// A strided network evaluated at every input position ("a trous", Mallat; the
// dense evaluation of a BagNet): the same graph with every stride removed and
// every later kernel dilated by the product of the strides before it.
//
// Why it is exact: let value v have cumulative stride S in the original graph and
// let D_v be its dense version. For every shift a, the original network run on the
// input shifted by a gives v_a[i] = D_v[a + S i]. A convolution of stride t at
// stride S reads v[t i + k] for tap k; its dense version, stride 1 and dilation S,
// reads D[p + S k], which at p = a + S t i is v_a[t i + k]. A 1x1 projection of
// stride t is the identity on dense positions, and the BagNet's crop-and-add
// keeps the top-left of both operands, which keeps the same origin. So the dense
// graph's feature map at p is the original's feature of the receptive field whose
// top-left pixel is p, for every p at once.
//
// Why it is cheaper: a layer at cumulative stride S computes S^2 phases, not the
// output stride's square, so the stride-1 stem runs once instead of s^2 times.
//
// Only networks without padding and pooling have this patch geometry (max-pooling
// would need dilated windows, padding would mix the zeros of shifted borders).
#include <string>
#include <vector>

#include "bagnet/error.hpp"
#include "bagnet/layers/graph.hpp"

namespace bagnet {

inline Graph a_trous(const Graph& graph) {
    Graph dense;
    std::vector<int> stride{1};  // by value: its cumulative stride in `graph`
    stride.reserve(graph.layers().size() + 1);
    for (const Layer& layer : graph.layers()) {
        const int in = stride[std::size_t(layer.input)];
        int out = in;
        switch (layer.kind) {
        case LayerKind::convolution: {
            ConvSpec conv = layer.conv;
            require(conv.padding == 0, "the dense evaluation needs a network without padding; " + conv.name + " pads");
            out = in * conv.stride;
            conv.dilation *= in;
            conv.stride = 1;
            dense.convolution(layer.input, std::move(conv));
            break;
        }
        case LayerKind::batch_norm: dense.batch_norm(layer.input, layer.batch_norm); break;
        case LayerKind::relu: dense.relu(layer.input); break;
        case LayerKind::add_cropped:
            require(stride[std::size_t(layer.shortcut)] == in,
                    "the dense evaluation needs a crop-and-add of values at the same stride");
            dense.add_cropped(layer.input, layer.shortcut);
            break;
        case LayerKind::max_pool:
        case LayerKind::average_pool: throw Error("the dense evaluation needs a network without pooling");
        case LayerKind::spatial_mean: dense.spatial_mean(layer.input); break;
        case LayerKind::linear: dense.linear(layer.input, layer.linear); break;
        }
        stride.push_back(out);
    }
    return dense;
}

}  // namespace bagnet
