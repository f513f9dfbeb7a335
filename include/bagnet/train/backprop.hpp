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

#include "bagnet/backend/fold.hpp"
#include "bagnet/backend/reference/training.hpp"
#include "bagnet/distributed/communicator.hpp"
#include "bagnet/layers/contract.hpp"
#include "bagnet/layers/graph.hpp"
#include "bagnet/layers/shapes.hpp"
#include "bagnet/parameters.hpp"
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

inline BatchStatistics running_statistics(const BatchNormSpec& bn, const Parameters& params) {
    return {params.at(key(bn, TensorSlot::running_mean)), params.at(key(bn, TensorSlot::running_var))};
}

// Which layers run together, decided from the graph alone. Activations are large
// and the layers between convolutions are memory-bound, so passes over memory
// are what they cost:
// - a ReLU that is the only reader of a batch norm's or a crop-and-add's output
//   runs inside that layer (one pass instead of two; oneDNN fuses it into batch
//   norm, forward and backward). The layer's own output value then stays empty.
// - a crop-and-add may write its sum over its main input when nothing else reads
//   that input and no backward pass needs it (backward_reads_output: a ReLU's and a pooling's).
// - a bias-free 1x1 convolution read only by the convolution after it (the BagNet
//   stem) is composed with it where that is cheaper (composes_with_next); its
//   gradient splits back exactly (split_composed_gradient).
struct Fusion {
    std::vector<bool> relu_inside;        // by layer: layer i also applies ReLU layer i + 1
    std::vector<bool> overwrite_main;     // by layer: add_cropped i may overwrite its main input
    std::vector<bool> compose_with_next;  // by layer: convolution i runs inside convolution i + 1

    bool composed(std::size_t i) const { return i > 0 && compose_with_next[i - 1]; }

    // Layer i is a ReLU already applied by layer i - 1.
    bool relu_fused(std::size_t i) const { return i > 0 && relu_inside[i - 1]; }
};

// Whether a layer's backward pass reads its own output, which then may not be
// overwritten (a layer with the ReLU after it inside reads it too: Fusion::relu_inside).
inline bool backward_reads_output(LayerKind kind) {
    switch (kind) {
    case LayerKind::relu:
    case LayerKind::max_pool:       // where each window's maximum was
    case LayerKind::average_pool: return true;  // cuDNN's pooling backward is given it
    case LayerKind::convolution:
    case LayerKind::batch_norm:
    case LayerKind::add_cropped:
    case LayerKind::spatial_mean:
    case LayerKind::linear: return false;
    }
    return true;
}

inline Fusion fusion_of(const Graph& graph) {
    const auto& layers = graph.layers();
    const std::size_t n = layers.size();
    const std::vector<int> readers = graph.readers();
    Fusion fusion{std::vector<bool>(n, false), std::vector<bool>(n, false), std::vector<bool>(n, false)};
    for (std::size_t i = 0; i + 1 < n; ++i) {
        const Layer& next = layers[i + 1];
        const bool sole_reader = next.input == int(i + 1) && readers[i + 1] == 1;
        fusion.relu_inside[i] =
            (layers[i].kind == LayerKind::batch_norm || layers[i].kind == LayerKind::add_cropped) &&
            next.kind == LayerKind::relu && sole_reader;
        fusion.compose_with_next[i] = !fusion.composed(i) && composes_with_next(graph, readers, i);
    }
    for (std::size_t i = 0; i < n; ++i) {
        const Layer& layer = layers[i];
        if (layer.kind != LayerKind::add_cropped || layer.input == Graph::input ||
            readers[std::size_t(layer.input)] != 1)
            continue;
        const std::size_t producer = std::size_t(layer.input) - 1;
        fusion.overwrite_main[i] = !backward_reads_output(layers[producer].kind) && !fusion.relu_inside[producer];
    }
    return fusion;
}

}  // namespace detail

template <class Backend>
using TapeOf = Tape<typename TrainingOps<Backend>::Value>;

// `synchronised`: see Tape::synchronised.
template <class Backend>
TapeOf<Backend> forward(TrainingOps<Backend>& ops, const Graph& graph, const Parameters& params,
                        const ImagesView& x, Mode mode, distributed::Communicator* synchronised = nullptr) {
    // oneDNN's failures reach the caller as bagnet::Error.
    return with_backend_errors<Backend>([&]() -> TapeOf<Backend> {
        namespace ref = backend::reference;
        const detail::Fusion fusion = detail::fusion_of(graph);
        TapeOf<Backend> tape;
        tape.mode = mode;
        tape.synchronised = mode == Mode::training ? synchronised : nullptr;
        tape.shapes = value_shapes(graph, x.shape());  // every layer's input checked before any work
        tape.values.reserve(graph.layers().size() + 1);
        tape.values.push_back(ops.import(to_tensor(x)));  // the tape's own copy of the input
        for (std::size_t i = 0; i < graph.layers().size(); ++i) {
            const Layer& layer = graph.layers()[i];
            const auto& in = tape.values[std::size_t(layer.input)];
            const Shape4& shape = tape.shapes[std::size_t(layer.input)];
            // A layer fused with the ReLU after it leaves its own value empty.
            auto push_fused = [&](auto value) {
                if (fusion.relu_inside[i]) tape.values.emplace_back();
                tape.values.push_back(std::move(value));
            };
            switch (layer.kind) {
            case LayerKind::convolution: {
                const ConvSpec& conv = layer.conv;
                const Tensor* bias = conv.bias ? &params.at(key(conv, TensorSlot::bias)) : nullptr;
                if (fusion.compose_with_next[i]) {  // computed with the next layer; its value stays empty
                    tape.values.emplace_back();
                } else if (fusion.composed(i)) {
                    const FoldedConv composed = composed_convolution(graph, i, params);
                    tape.values.push_back(ops.convolution(tape.values[std::size_t(graph.layers()[i - 1].input)],
                                                          composed.spec, composed.weight, bias));
                } else {
                    tape.values.push_back(ops.convolution(in, conv, params.at(key(conv, TensorSlot::weight)), bias));
                }
                break;
            }
            case LayerKind::batch_norm: {
                const auto& bn = layer.batch_norm;
                const Tensor& gamma = params.at(key(bn, TensorSlot::weight));
                const Tensor& beta = params.at(key(bn, TensorSlot::bias));
                const bool relu = fusion.relu_inside[i];
                if (tape.synchronised) {
                    Tensor4 y = ops.to_tensor(in);
                    BatchStatistics& stats = tape.statistics[i] = synchronised_statistics(y, *tape.synchronised);
                    require(stats.count > 1, bn.name + ": batch norm in training mode needs more than one value per "
                                                       "channel over all processes");
                    ref::batch_norm_inference(y, bn, gamma, beta, stats.mean, stats.variance);
                    if (relu) ref::relu(y);
                    push_fused(ops.import(std::move(y)));
                } else if (mode == Mode::training) {
                    require(shape[0] * shape[2] * shape[3] > 1,
                            bn.name +
                                ": batch norm in training mode needs more than one value per channel (batch of 1 "
                                "with a 1 x 1 map)");
                    push_fused(ops.batch_norm_training(in, bn, gamma, beta, tape.statistics[i], relu));
                } else {
                    push_fused(
                        ops.batch_norm_inference(in, bn, gamma, beta, detail::running_statistics(bn, params), relu));
                }
                break;
            }
            case LayerKind::relu:
                if (!fusion.relu_fused(i)) tape.values.push_back(ops.relu(in));
                break;
            case LayerKind::add_cropped:
                push_fused(ops.add_cropped(in, tape.values[std::size_t(layer.shortcut)], fusion.relu_inside[i],
                                           fusion.overwrite_main[i]));
                break;
            case LayerKind::max_pool: tape.values.push_back(ops.max_pool(in, layer.pool)); break;
            case LayerKind::average_pool: tape.values.push_back(ops.average_pool(in, layer.average_pool)); break;
            case LayerKind::spatial_mean:
                tape.values.push_back(ops.import(ref::spatial_mean_nchw(ops.to_tensor(in))));
                break;
            case LayerKind::linear: {
                const LinearSpec& linear = layer.linear;
                tape.values.push_back(ops.import(ref::linear(ops.to_tensor(in), params.at(key(linear, TensorSlot::weight)),
                                                             params.at(key(linear, TensorSlot::bias)))));
                break;
            }
            }
        }
        tape.output_tensor = ops.to_tensor(tape.values.back());
        return tape;
    });
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
        Tensor& mean = params.at(key(bn, TensorSlot::running_mean));
        Tensor& var = params.at(key(bn, TensorSlot::running_var));
        for (std::size_t c = 0; c < mean.size(); ++c) {
            mean(c) = float((1 - m) * double(mean(c)) + m * double(stats.mean(c)));
            var(c) = float((1 - m) * double(var(c)) + m * double(stats.variance(c)) * count / (count - 1));
        }
        Tensor& tracked = params.at(key(bn, TensorSlot::num_batches_tracked));
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
    // oneDNN's failures reach the caller as bagnet::Error.
    return with_backend_errors<Backend>([&]() -> BackwardResult {
        namespace ref = backend::reference;
        using Value = typename TrainingOps<Backend>::Value;
        const auto& layers = graph.layers();
        const bool training = tape.mode == Mode::training;
        const detail::Fusion fusion = detail::fusion_of(graph);
        auto trains = [&](const std::string& key) { return options.parameter_gradients && !options.frozen.count(key); };
        auto has_trained_parameter = [&](const Layer& layer) {
            for (const auto& t : tensors_of(layer))
                if (t.trainable() && trains(t.key)) return true;
            return false;
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
                    const FoldedConv composed = composed_convolution(graph, i, params);
                    auto g = ops.convolution_backward(tape.values[std::size_t(first.input)], std::move(dy),
                                                      composed.spec, composed.weight, need_first_input);
                    auto [second_weight, first_weight] = split_composed_gradient(
                        g.weight, params.at(key(conv, TensorSlot::weight)), params.at(key(first.conv, TensorSlot::weight)));
                    keep(key(conv, TensorSlot::weight), std::move(second_weight));
                    keep(key(first.conv, TensorSlot::weight), std::move(first_weight));
                    if (conv.bias) keep(key(conv, TensorSlot::bias), std::move(g.bias));
                    if (need_first_input) accumulate(first.input, std::move(g.input));
                    break;
                }
                auto g = ops.convolution_backward(in, std::move(dy), conv, params.at(key(conv, TensorSlot::weight)),
                                                  need_input);
                keep(key(conv, TensorSlot::weight), std::move(g.weight));
                if (conv.bias) keep(key(conv, TensorSlot::bias), std::move(g.bias));
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
                    auto g = synchronised_batch_norm_backward(ops.to_tensor(in), d, stats, params.at(key(bn, TensorSlot::weight)),
                                                              bn.eps, *tape.synchronised);
                    keep(key(bn, TensorSlot::weight), std::move(g.weight));
                    keep(key(bn, TensorSlot::bias), std::move(g.bias));
                    if (need_input) accumulate(layer.input, ops.import(std::move(g.input)));
                    break;
                }
                // With the ReLU inside, dy is the gradient of the ReLU's output, tape.values[i + 2].
                auto g =
                    ops.batch_norm_backward(in, tape.values[i + 1 + std::size_t(relu)], std::move(dy), bn,
                                            params.at(key(bn, TensorSlot::weight)), stats, training, relu, need_input);
                keep(key(bn, TensorSlot::weight), std::move(g.weight));
                keep(key(bn, TensorSlot::bias), std::move(g.bias));
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
            case LayerKind::max_pool:
                if (need_input)
                    accumulate(layer.input, ops.max_pool_backward(in, tape.values[i + 1], std::move(dy), layer.pool));
                break;
            case LayerKind::average_pool:
                if (need_input)
                    accumulate(layer.input,
                               ops.average_pool_backward(in, tape.values[i + 1], std::move(dy), layer.average_pool));
                break;
            case LayerKind::spatial_mean:
                accumulate(layer.input, ops.import(ref::spatial_mean_backward(
                                            ops.to_tensor(dy), tape.shapes[std::size_t(layer.input)])));
                break;
            case LayerKind::linear: {
                ref::LinearGradients g = ref::linear_backward(ops.to_tensor(in), ops.to_tensor(dy),
                                                              params.at(key(layer.linear, TensorSlot::weight)));
                keep(key(layer.linear, TensorSlot::weight), std::move(g.weight));
                keep(key(layer.linear, TensorSlot::bias), std::move(g.bias));
                accumulate(layer.input, ops.import(std::move(g.input)));
                break;
            }
            }
        }
        if (options.input_gradient)
            result.input =
                grads[0] ? Tensor4(ops.to_tensor(*grads[0])) : Tensor4(xt::zeros<float>(tape.shapes[0]));
        return result;
    });
}

}  // namespace bagnet::train
