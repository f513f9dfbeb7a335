#pragma once
// Forward with a tape and backward over any Graph, on any backend's TrainingOps.
//
// Training mode normalises each batch norm with the batch's own statistics and
// records them so that update_running_statistics can fold them into the running
// ones afterwards (PyTorch's convention, with the unbiased variance); evaluation
// mode uses the running statistics and changes nothing.
#include <array>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bagnet/distributed/communicator.hpp"
#include "bagnet/layers/fold.hpp"
#include "bagnet/parameters.hpp"
#include "bagnet/train/graph.hpp"
#include "bagnet/train/ops.hpp"
#include "bagnet/train/sync_batch_norm.hpp"

namespace bagnet::train {

enum class Mode { training, evaluation };

using Gradients = std::map<std::string, Tensor>;

// Every value a forward pass computed (in the backend's layout), their shapes,
// the statistics each batch norm used, and the output as a plain tensor.
template <class Value = Tensor4>
struct Tape {
    Mode mode = Mode::evaluation;
    std::vector<Value> values;                          // values[0] is the input; empty where a layer ran
                                                        // fused into the next (see detail::Fusion)
    std::vector<std::array<std::size_t, 4>> shapes;     // of every value, fused or not
    std::map<std::size_t, BatchStatistics> statistics;  // by layer index
    Tensor4 output_tensor;                              // the last value, N x C x H x W
    // Training-mode batch norms normalise over the batch of all these processes
    // (train/sync_batch_norm.hpp); null: over this process's share alone.
    distributed::Communicator* synchronised = nullptr;
    const Tensor4& output() const { return output_tensor; }
};

namespace detail {
using Shape4 = std::array<std::size_t, 4>;

inline Shape4 shape4(const Tensor4& x) { return {x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]}; }

inline BatchStatistics running_statistics(const BatchNormSpec& bn, const Parameters& params) {
    return {params.at(bn.name + ".running_mean"), params.at(bn.name + ".running_var")};
}

// Which layers run together, decided from the graph alone. Activations are large
// and the layers between convolutions are memory-bound, so passes over memory
// are what they cost:
// - a ReLU that is the only reader of a batch norm's or a crop-and-add's output
//   runs inside that layer (one pass instead of two; oneDNN fuses it into batch
//   norm, forward and backward). The layer's own output value then stays empty.
// - a crop-and-add may write its sum over its main input when nothing else reads
//   that input and no backward pass needs it (a ReLU's backward reads its output).
// - a bias-free 1x1 convolution read only by the convolution after it (the BagNet
//   stem) is composed with it into one convolution where that costs fewer
//   multiplications: for BagNet-33 the stem's 3x3 convolution then sees 3 input
//   channels instead of 64. Its gradient splits back exactly (split_composed_gradient).
struct Fusion {
    std::vector<bool> relu_inside;        // by layer: layer i also applies ReLU layer i + 1
    std::vector<bool> overwrite_main;     // by layer: add_cropped i may overwrite its main input
    std::vector<bool> compose_with_next;  // by layer: convolution i runs inside convolution i + 1

    bool composed(std::size_t i) const { return i > 0 && compose_with_next[i - 1]; }

    // Layer i is a ReLU already applied by layer i - 1.
    bool relu_fused(std::size_t i) const { return i > 0 && relu_inside[i - 1]; }
};

inline Fusion fusion_of(const Graph& graph) {
    const auto& layers = graph.layers();
    const std::size_t n = layers.size();
    std::vector<int> readers(n + 1, 0);
    for (const auto& layer : layers) {
        ++readers[std::size_t(layer.input)];
        if (layer.shortcut >= 0) ++readers[std::size_t(layer.shortcut)];
    }
    Fusion fusion{std::vector<bool>(n, false), std::vector<bool>(n, false), std::vector<bool>(n, false)};
    for (std::size_t i = 0; i + 1 < n; ++i) {
        const Layer& next = layers[i + 1];
        const bool sole_reader = next.input == int(i + 1) && readers[i + 1] == 1;
        fusion.relu_inside[i] =
            (layers[i].kind == LayerKind::batch_norm || layers[i].kind == LayerKind::add_cropped) &&
            next.kind == LayerKind::relu && sole_reader;
        const ConvSpec& a = layers[i].conv;
        const ConvSpec& b = next.conv;
        // Multiplications per output location: composed, against the two convolutions apart.
        const long taps = long(b.kernel) * b.kernel,
                   composed_cost = long(a.in_channels) * b.out_channels * taps;
        const long separate_cost =
            long(a.in_channels) * a.out_channels + long(a.out_channels) * b.out_channels * taps;
        fusion.compose_with_next[i] = layers[i].kind == LayerKind::convolution &&
                                      next.kind == LayerKind::convolution && sole_reader && a.kernel == 1 &&
                                      a.stride == 1 && a.padding == 0 && !a.bias && !fusion.composed(i) &&
                                      composed_cost <= separate_cost;
    }
    for (std::size_t i = 0; i < n; ++i) {
        const Layer& layer = layers[i];
        if (layer.kind != LayerKind::add_cropped || layer.input == Graph::input ||
            readers[std::size_t(layer.input)] != 1)
            continue;
        const std::size_t producer = std::size_t(layer.input) - 1;
        fusion.overwrite_main[i] = layers[producer].kind != LayerKind::relu && !fusion.relu_inside[producer];
    }
    return fusion;
}

// Convolutions i - 1 and i of a graph as one (Fusion::compose_with_next[i - 1]).
inline FoldedConv composed_convolution(const std::vector<Layer>& layers, std::size_t i,
                                       const Parameters& params) {
    ConvSpec second = layers[i].conv;
    second.padding = 0;  // a 1x1 convolution without bias maps zero padding to zero padding
    second.bias = false;
    FoldedConv composed = compose_convolutions({layers[i - 1].conv, second}, params);
    composed.spec = layers[i].conv;
    composed.spec.in_channels = layers[i - 1].conv.in_channels;
    return composed;
}
}  // namespace detail

template <class Backend>
using TapeOf = Tape<typename TrainingOps<Backend>::Value>;

// `synchronised`: see Tape::synchronised.
template <class Backend>
TapeOf<Backend> forward(TrainingOps<Backend>& ops, const Graph& graph, const Parameters& params,
                        const Tensor4& x, Mode mode, distributed::Communicator* synchronised = nullptr) {
    namespace ref = reference_layers;
    const detail::Fusion fusion = detail::fusion_of(graph);
    TapeOf<Backend> tape;
    tape.mode = mode;
    tape.synchronised = mode == Mode::training ? synchronised : nullptr;
    tape.values.reserve(graph.layers().size() + 1);
    tape.values.push_back(ops.import(x));
    tape.shapes.push_back(detail::shape4(x));
    auto push = [&](auto value, const detail::Shape4& shape) {
        tape.values.push_back(std::move(value));
        tape.shapes.push_back(shape);
    };
    for (std::size_t i = 0; i < graph.layers().size(); ++i) {
        const Layer& layer = graph.layers()[i];
        const auto& in = tape.values[std::size_t(layer.input)];
        const detail::Shape4 shape = tape.shapes[std::size_t(layer.input)];
        // A layer fused with the ReLU after it leaves its own value empty.
        auto push_fused = [&](auto value, const detail::Shape4& out_shape) {
            if (fusion.relu_inside[i]) push(typename TrainingOps<Backend>::Value{}, out_shape);
            push(std::move(value), out_shape);
        };
        switch (layer.kind) {
        case LayerKind::convolution: {
            const ConvSpec& conv = layer.conv;
            const Tensor* bias = conv.bias ? &params.at(conv.name + ".bias") : nullptr;
            require(shape[2] + 2 * std::size_t(conv.padding) >= std::size_t(conv.kernel) &&
                        shape[3] + 2 * std::size_t(conv.padding) >= std::size_t(conv.kernel),
                    conv.name + ": input " + shape_string(shape) + " is smaller than its kernel");
            require(int(shape[1]) == conv.in_channels, conv.name + " expects " +
                                                           std::to_string(conv.in_channels) +
                                                           " input channels, got " + shape_string(shape));
            const detail::Shape4 out_shape{shape[0], std::size_t(conv.out_channels),
                                           std::size_t(conv.output_size(int(shape[2]))),
                                           std::size_t(conv.output_size(int(shape[3])))};
            if (fusion.compose_with_next[i]) {  // computed with the next layer; its value stays empty
                push(typename TrainingOps<Backend>::Value{}, out_shape);
            } else if (fusion.composed(i)) {
                const FoldedConv composed = detail::composed_convolution(graph.layers(), i, params);
                push(ops.convolution(tape.values[std::size_t(graph.layers()[i - 1].input)], composed.spec,
                                     composed.weight, bias),
                     out_shape);
            } else {
                push(ops.convolution(in, conv, params.at(conv.name + ".weight"), bias), out_shape);
            }
            break;
        }
        case LayerKind::batch_norm: {
            const auto& bn = layer.batch_norm;
            require(int(shape[1]) == bn.channels, bn.name + " expects " + std::to_string(bn.channels) +
                                                      " channels, got " + shape_string(shape));
            const Tensor& gamma = params.at(bn.name + ".weight");
            const Tensor& beta = params.at(bn.name + ".bias");
            const bool relu = fusion.relu_inside[i];
            if (tape.synchronised) {
                Tensor4 y = ops.to_tensor(in);
                BatchStatistics& stats = tape.statistics[i] = synchronised_statistics(y, *tape.synchronised);
                require(stats.count > 1, bn.name + ": batch norm in training mode needs more than one value per "
                                                   "channel over all processes");
                ref::batch_norm_inference(y, bn, gamma, beta, stats.mean, stats.variance);
                if (relu) ref::relu(y);
                push_fused(ops.import(std::move(y)), shape);
            } else if (mode == Mode::training) {
                require(shape[0] * shape[2] * shape[3] > 1,
                        bn.name +
                            ": batch norm in training mode needs more than one value per channel (batch of 1 "
                            "with a 1 x 1 map)");
                push_fused(ops.batch_norm_training(in, bn, gamma, beta, tape.statistics[i], relu), shape);
            } else {
                push_fused(ops.batch_norm_inference(in, bn, gamma, beta,
                                                    detail::running_statistics(bn, params), relu),
                           shape);
            }
            break;
        }
        case LayerKind::relu:
            if (!fusion.relu_fused(i)) push(ops.relu(in), shape);
            break;
        case LayerKind::add_cropped: {
            const detail::Shape4& shortcut = tape.shapes[std::size_t(layer.shortcut)];
            require(shortcut[0] == shape[0] && shortcut[1] == shape[1] && shortcut[2] >= shape[2] &&
                        shortcut[3] >= shape[3],
                    "add_cropped: shortcut " + shape_string(shortcut) + " cannot be cropped to " +
                        shape_string(shape));
            push_fused(ops.add_cropped(in, tape.values[std::size_t(layer.shortcut)], fusion.relu_inside[i],
                                       fusion.overwrite_main[i]),
                       shape);
            break;
        }
        case LayerKind::spatial_mean:
            push(ops.import(ref::spatial_mean_nchw(ops.to_tensor(in))), {shape[0], shape[1], 1, 1});
            break;
        case LayerKind::linear: {
            const LinearSpec& linear = layer.linear;
            require(shape[1] == std::size_t(linear.in_features) && shape[2] == 1 && shape[3] == 1,
                    linear.name + " expects N x " + std::to_string(linear.in_features) + " x 1 x 1, got " +
                        shape_string(shape));
            push(ops.import(ref::linear(ops.to_tensor(in), params.at(linear.name + ".weight"),
                                        params.at(linear.name + ".bias"))),
                 {shape[0], std::size_t(linear.out_features), 1, 1});
            break;
        }
        }
    }
    tape.output_tensor = ops.to_tensor(tape.values.back());
    return tape;
}

// Folds a training-mode tape's batch statistics into the running statistics:
// new = (1 - m) old + m batch, the variance made unbiased (n / (n - 1)) as PyTorch does.
template <class Value>
void update_running_statistics(const Graph& graph, const Tape<Value>& tape, Parameters& params) {
    for (const auto& [index, stats] : tape.statistics) {
        const auto& bn = graph.layers()[index].batch_norm;
        const auto& shape = tape.shapes[std::size_t(graph.layers()[index].input)];
        const double count = stats.count > 0 ? stats.count : double(shape[0] * shape[2] * shape[3]);
        const double m = bn.momentum;
        Tensor& mean = params.at(bn.name + ".running_mean");
        Tensor& var = params.at(bn.name + ".running_var");
        for (std::size_t c = 0; c < mean.size(); ++c) {
            mean(c) = float((1 - m) * double(mean(c)) + m * double(stats.mean(c)));
            var(c) = float((1 - m) * double(var(c)) + m * double(stats.variance(c)) * count / (count - 1));
        }
        Tensor& tracked = params.at(bn.name + ".num_batches_tracked");
        tracked() = tracked() + 1.f;
    }
}

struct BackwardOptions {
    bool input_gradient = false;        // also return d output / d input
    bool parameter_gradients = true;    // false: only the input gradient (saliency)
    std::set<std::string> frozen;       // parameter keys that get no gradient
};

struct BackwardResult {
    Gradients parameters;  // by key, for every trainable, unfrozen parameter
    Tensor4 input;         // empty unless options.input_gradient
};

// Backpropagates `output_gradient` (d loss / d graph output) through the tape.
// Work is skipped where nothing below needs it: a layer's input gradient is
// computed only if some earlier layer has a parameter to train or the input
// gradient was asked for.
template <class Backend>
BackwardResult backward(TrainingOps<Backend>& ops, const Graph& graph, const Parameters& params,
                        const TapeOf<Backend>& tape, const Tensor4& output_gradient,
                        const BackwardOptions& options = {}) {
    namespace ref = reference_layers;
    using Value = typename TrainingOps<Backend>::Value;
    const auto& layers = graph.layers();
    const bool training = tape.mode == Mode::training;
    const detail::Fusion fusion = detail::fusion_of(graph);
    auto trains = [&](const std::string& key) { return options.parameter_gradients && !options.frozen.count(key); };
    auto has_trained_parameter = [&](const Layer& layer) {
        switch (layer.kind) {
        case LayerKind::convolution: return trains(layer.conv.name + ".weight") || (layer.conv.bias && trains(layer.conv.name + ".bias"));
        case LayerKind::batch_norm: return trains(layer.batch_norm.name + ".weight") || trains(layer.batch_norm.name + ".bias");
        case LayerKind::linear: return trains(layer.linear.name + ".weight") || trains(layer.linear.name + ".bias");
        default: return false;
        }
    };
    // needs[v]: some consumer of d loss / d value v exists below it.
    std::vector<bool> needs(layers.size() + 1, false);
    needs[0] = options.input_gradient;
    for (std::size_t i = 0; i < layers.size(); ++i) {
        const Layer& layer = layers[i];
        bool reads_needed = needs[std::size_t(layer.input)] || (layer.shortcut >= 0 && needs[std::size_t(layer.shortcut)]);
        needs[i + 1] = reads_needed || has_trained_parameter(layer);
    }

    BackwardResult result;
    // Each slot owns its storage: ops.add_to writes into it.
    std::vector<std::optional<Value>> grads(layers.size() + 1);
    auto accumulate = [&](int value, Value g) {
        if (!needs[std::size_t(value)]) return;
        auto& slot = grads[std::size_t(value)];
        if (slot)
            ops.add_to(*slot, g);
        else
            slot = std::move(g);
    };
    auto keep = [&](const std::string& key, Tensor g) {
        if (trains(key)) result.parameters[key] = std::move(g);
    };
    grads.back() = ops.import(output_gradient);
    for (std::size_t i = layers.size(); i-- > 0;) {
        if (!grads[i + 1]) continue;  // nothing flows here (or nothing below needs it)
        Value dy = std::move(*grads[i + 1]);
        grads[i + 1].reset();
        const Layer& layer = layers[i];
        const Value& in = tape.values[std::size_t(layer.input)];
        const bool need_input = needs[std::size_t(layer.input)];
        switch (layer.kind) {
        case LayerKind::convolution: {
            const auto& conv = layer.conv;
            if (fusion.composed(i)) {  // layer i - 1 is inside: differentiate both here
                const Layer& first = layers[i - 1];
                const bool need_first_input = needs[std::size_t(first.input)];
                const FoldedConv composed = detail::composed_convolution(layers, i, params);
                auto g = ops.convolution_backward(tape.values[std::size_t(first.input)], std::move(dy),
                                                  composed.spec, composed.weight, need_first_input);
                auto [second_weight, first_weight] = split_composed_gradient(
                    g.weight, params.at(conv.name + ".weight"), params.at(first.conv.name + ".weight"));
                keep(conv.name + ".weight", std::move(second_weight));
                keep(first.conv.name + ".weight", std::move(first_weight));
                if (conv.bias) keep(conv.name + ".bias", std::move(g.bias));
                if (need_first_input) accumulate(first.input, std::move(g.input));
                break;
            }
            auto g = ops.convolution_backward(in, std::move(dy), conv, params.at(conv.name + ".weight"),
                                              need_input);
            keep(conv.name + ".weight", std::move(g.weight));
            if (conv.bias) keep(conv.name + ".bias", std::move(g.bias));
            if (need_input) accumulate(layer.input, std::move(g.input));
            break;
        }
        case LayerKind::batch_norm: {
            const auto& bn = layer.batch_norm;
            const bool relu = fusion.relu_inside[i];
            const BatchStatistics stats = training ? tape.statistics.at(i) : detail::running_statistics(bn, params);
            if (training && tape.synchronised) {
                Tensor4 d = ops.to_tensor(dy);
                if (relu) d = ref::relu_backward(ops.to_tensor(tape.values[i + 2]), d);
                auto g = synchronised_batch_norm_backward(ops.to_tensor(in), d, stats, params.at(bn.name + ".weight"),
                                                          bn.eps, *tape.synchronised);
                keep(bn.name + ".weight", std::move(g.weight));
                keep(bn.name + ".bias", std::move(g.bias));
                if (need_input) accumulate(layer.input, ops.import(std::move(g.input)));
                break;
            }
            // With the ReLU inside, dy is the gradient of the ReLU's output, tape.values[i + 2].
            auto g =
                ops.batch_norm_backward(in, tape.values[i + 1 + std::size_t(relu)], std::move(dy), bn,
                                        params.at(bn.name + ".weight"), stats, training, relu, need_input);
            keep(bn.name + ".weight", std::move(g.weight));
            keep(bn.name + ".bias", std::move(g.bias));
            if (need_input) accumulate(layer.input, std::move(g.input));
            break;
        }
        case LayerKind::relu:
            // A ReLU inside a batch norm is differentiated with it; inside a crop-and-add, here.
            if (fusion.relu_fused(i) && layers[i - 1].kind == LayerKind::batch_norm)
                accumulate(layer.input, std::move(dy));
            else
                accumulate(layer.input, ops.relu_backward(tape.values[i + 1], std::move(dy)));
            break;
        case LayerKind::add_cropped:
            if (needs[std::size_t(layer.shortcut)])
                accumulate(layer.shortcut, ops.uncrop(dy, tape.values[std::size_t(layer.shortcut)]));
            accumulate(layer.input, std::move(dy));
            break;
        case LayerKind::spatial_mean:
            accumulate(layer.input, ops.import(ref::spatial_mean_backward(
                                        ops.to_tensor(dy), tape.shapes[std::size_t(layer.input)])));
            break;
        case LayerKind::linear: {
            ref::LinearGradients g = ref::linear_backward(ops.to_tensor(in), ops.to_tensor(dy),
                                                          params.at(layer.linear.name + ".weight"));
            keep(layer.linear.name + ".weight", std::move(g.weight));
            keep(layer.linear.name + ".bias", std::move(g.bias));
            accumulate(layer.input, ops.import(std::move(g.input)));
            break;
        }
        }
    }
    if (options.input_gradient)
        result.input =
            grads[0] ? Tensor4(ops.to_tensor(*grads[0])) : Tensor4(xt::zeros<float>(tape.shapes[0]));
    return result;
}

}  // namespace bagnet::train
