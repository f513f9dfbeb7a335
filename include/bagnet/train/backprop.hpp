#pragma once
// Forward with a tape and backward over any Graph, on any backend's TrainingOps.
//
// Training mode normalises each batch norm with the batch's own statistics and
// records them so that update_running_statistics can fold them into the running
// ones afterwards (PyTorch's convention, with the unbiased variance); evaluation
// mode uses the running statistics and changes nothing.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bagnet/parameters.hpp"
#include "bagnet/train/graph.hpp"
#include "bagnet/train/ops.hpp"

namespace bagnet::train {

enum class Mode { training, evaluation };

using Gradients = std::map<std::string, Tensor>;

// Every value a forward pass computed, and the statistics each batch norm used.
struct Tape {
    Mode mode = Mode::evaluation;
    std::vector<Tensor4> values;                           // values[0] is the input
    std::map<std::size_t, BatchStatistics> statistics;    // by layer index
    const Tensor4& output() const { return values.back(); }
};

namespace detail {
inline std::array<std::size_t, 4> shape4(const Tensor4& x) { return {x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]}; }

inline BatchStatistics running_statistics(const BatchNormSpec& bn, const Parameters& params) {
    return {params.at(bn.name + ".running_mean"), params.at(bn.name + ".running_var")};
}
}  // namespace detail

template <class Backend>
Tape forward(TrainingOps<Backend>& ops, const Graph& graph, const Parameters& params, const Tensor4& x, Mode mode) {
    namespace ref = reference_layers;
    Tape tape;
    tape.mode = mode;
    tape.values.reserve(graph.layers().size() + 1);
    tape.values.push_back(x);
    for (std::size_t i = 0; i < graph.layers().size(); ++i) {
        const Layer& layer = graph.layers()[i];
        const Tensor4& in = tape.values[std::size_t(layer.input)];
        switch (layer.kind) {
        case LayerKind::convolution: {
            const Tensor* bias = layer.conv.bias ? &params.at(layer.conv.name + ".bias") : nullptr;
            require(in.shape()[2] + 2 * std::size_t(layer.conv.padding) >= std::size_t(layer.conv.kernel) &&
                        in.shape()[3] + 2 * std::size_t(layer.conv.padding) >= std::size_t(layer.conv.kernel),
                    layer.conv.name + ": input " + shape_string(in.shape()) + " is smaller than its kernel");
            tape.values.push_back(ops.convolution(in, layer.conv, params.at(layer.conv.name + ".weight"), bias));
            break;
        }
        case LayerKind::batch_norm: {
            const auto& bn = layer.batch_norm;
            const Tensor& gamma = params.at(bn.name + ".weight");
            const Tensor& beta = params.at(bn.name + ".bias");
            if (mode == Mode::training) {
                require(in.size() / in.shape()[1] > 1, bn.name + ": batch norm in training mode needs more than one "
                                                                  "value per channel (batch of 1 with a 1 x 1 map)");
                tape.values.push_back(ops.batch_norm_training(in, bn, gamma, beta, tape.statistics[i]));
            } else {
                tape.values.push_back(
                    ops.batch_norm_inference(in, bn, gamma, beta, detail::running_statistics(bn, params)));
            }
            break;
        }
        case LayerKind::relu: tape.values.push_back(ops.relu(in)); break;
        case LayerKind::add_cropped: {
            const Tensor4& shortcut = tape.values[std::size_t(layer.shortcut)];
            require(shortcut.shape()[0] == in.shape()[0] && shortcut.shape()[1] == in.shape()[1] &&
                        shortcut.shape()[2] >= in.shape()[2] && shortcut.shape()[3] >= in.shape()[3],
                    "add_cropped: shortcut " + shape_string(shortcut.shape()) + " cannot be cropped to " +
                        shape_string(in.shape()));
            Tensor4 sum = in;
            ref::add_cropped(sum, shortcut);
            tape.values.push_back(std::move(sum));
            break;
        }
        case LayerKind::spatial_mean: tape.values.push_back(ref::spatial_mean_nchw(in)); break;
        case LayerKind::linear:
            tape.values.push_back(ref::linear(in, params.at(layer.linear.name + ".weight"),
                                              params.at(layer.linear.name + ".bias")));
            break;
        }
    }
    return tape;
}

// Folds a training-mode tape's batch statistics into the running statistics:
// new = (1 - m) old + m batch, the variance made unbiased (n / (n - 1)) as PyTorch does.
inline void update_running_statistics(const Graph& graph, const Tape& tape, Parameters& params) {
    for (const auto& [index, stats] : tape.statistics) {
        const auto& bn = graph.layers()[index].batch_norm;
        const Tensor4& in = tape.values[std::size_t(graph.layers()[index].input)];
        const double count = double(in.size() / in.shape()[1]);
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
BackwardResult backward(TrainingOps<Backend>& ops, const Graph& graph, const Parameters& params, const Tape& tape,
                        const Tensor4& output_gradient, const BackwardOptions& options = {}) {
    namespace ref = reference_layers;
    const auto& layers = graph.layers();
    const bool training = tape.mode == Mode::training;
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
    std::vector<std::optional<Tensor4>> grads(layers.size() + 1);
    auto accumulate = [&](int value, Tensor4 g) {
        if (!needs[std::size_t(value)]) return;
        auto& slot = grads[std::size_t(value)];
        if (slot) *slot += g;
        else slot = std::move(g);
    };
    auto keep = [&](const std::string& key, Tensor g) {
        if (trains(key)) result.parameters[key] = std::move(g);
    };
    grads.back() = output_gradient;
    for (std::size_t i = layers.size(); i-- > 0;) {
        if (!grads[i + 1]) continue;  // nothing flows here (or nothing below needs it)
        const Tensor4 dy = std::move(*grads[i + 1]);
        grads[i + 1].reset();
        const Layer& layer = layers[i];
        const Tensor4& in = tape.values[std::size_t(layer.input)];
        const bool need_input = needs[std::size_t(layer.input)];
        switch (layer.kind) {
        case LayerKind::convolution: {
            const auto& conv = layer.conv;
            ConvGradients g = ops.convolution_backward(in, dy, conv, params.at(conv.name + ".weight"), need_input);
            keep(conv.name + ".weight", std::move(g.weight));
            if (conv.bias) keep(conv.name + ".bias", std::move(g.bias));
            if (need_input) accumulate(layer.input, std::move(g.input));
            break;
        }
        case LayerKind::batch_norm: {
            const auto& bn = layer.batch_norm;
            const BatchStatistics stats = training ? tape.statistics.at(i) : detail::running_statistics(bn, params);
            BatchNormGradients g = ops.batch_norm_backward(in, dy, bn, params.at(bn.name + ".weight"), stats, training,
                                                           need_input);
            keep(bn.name + ".weight", std::move(g.weight));
            keep(bn.name + ".bias", std::move(g.bias));
            if (need_input) accumulate(layer.input, std::move(g.input));
            break;
        }
        case LayerKind::relu: accumulate(layer.input, ops.relu_backward(tape.values[i + 1], dy)); break;
        case LayerKind::add_cropped: {
            const Tensor4& shortcut = tape.values[std::size_t(layer.shortcut)];
            if (needs[std::size_t(layer.shortcut)])
                accumulate(layer.shortcut, shortcut.shape() == dy.shape() ? dy : ref::uncrop(dy, detail::shape4(shortcut)));
            accumulate(layer.input, dy);
            break;
        }
        case LayerKind::spatial_mean: accumulate(layer.input, ref::spatial_mean_backward(dy, detail::shape4(in))); break;
        case LayerKind::linear: {
            ref::LinearGradients g = ref::linear_backward(in, dy, params.at(layer.linear.name + ".weight"));
            keep(layer.linear.name + ".weight", std::move(g.weight));
            keep(layer.linear.name + ".bias", std::move(g.bias));
            accumulate(layer.input, std::move(g.input));
            break;
        }
        }
    }
    if (options.input_gradient) result.input = grads[0] ? std::move(*grads[0]) : Tensor4(xt::zeros<float>(tape.values[0].shape()));
    return result;
}

}  // namespace bagnet::train
