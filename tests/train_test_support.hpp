#pragma once
// Shared by the training tests: random parameters for any graph, and a
// finite-difference check of backprop against the graph's own forward pass.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "bagnet/train/backprop.hpp"
#include "random_tensors.hpp"

namespace bagnet::testing {

// Parameters for every layer of `graph`: He-normal convolutions, batch norms and
// running statistics away from the identity, a random linear head.
inline Parameters random_parameters(const Graph& graph, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal;
    std::uniform_real_distribution<float> scale(0.5f, 1.5f), variance(0.5f, 2.f);
    Parameters params;
    for (const auto& t : tensors_of(graph)) {
        const auto draw = [&]() -> float {
            switch (t.slot) {
            case TensorSlot::weight:
                if (t.initial == Initial::ones) return scale(rng);  // a batch norm's scale
                return (t.initial == Initial::he_normal ? std::sqrt(2.f / float(t.fan_in)) : 1.f / std::sqrt(float(t.fan_in))) *
                       normal(rng);
            case TensorSlot::bias:
            case TensorSlot::running_mean: return 0.1f * normal(rng);
            case TensorSlot::running_var: return variance(rng);
            case TensorSlot::num_batches_tracked: return 0.f;
            }
            return 0.f;
        };
        Tensor value = xt::zeros<float>(t.shape);
        for (auto& v : value) v = draw();
        params.tensors()[t.key] = std::move(value);
    }
    return params;
}

// sum(output * weights) in double: a scalar whose gradient is `weights`.
inline double weighted_sum(const Tensor4& output, const Tensor4& weights) {
    double sum = 0;
    for (std::size_t i = 0; i < output.size(); ++i) sum += double(output.data()[i]) * double(weights.data()[i]);
    return sum;
}

// Compares backprop's gradients of sum(output * R) with central differences, on
// the input and on up to `samples` entries of every trainable parameter. The
// error is measured against the largest gradient of the same tensor.
template <class Backend>
void check_gradients(const Graph& graph, Parameters params, const Tensor4& x, train::Mode mode,
                     double step = 1e-2, double tolerance = 1e-2, std::size_t samples = 6) {
    auto& ops = train::training_ops<Backend>();
    const auto tape = train::forward(ops, graph, params, x, mode);
    const Tensor4 weights = random_input(tape.output().shape()[0], tape.output().shape()[1], tape.output().shape()[2],
                                           tape.output().shape()[3], 99);
    const auto analytic = train::backward(ops, graph, params, tape, weights, {true, true, {}});
    auto loss = [&](const Parameters& p, const Tensor4& input) {
        return weighted_sum(train::forward(ops, graph, p, input, mode).output(), weights);
    };
    auto check = [&](const std::string& what, const Tensor& gradient, auto perturb) {
        const double scale = std::max(1e-3, double(xt::amax(xt::abs(gradient))()));
        const std::size_t stride = std::max<std::size_t>(1, gradient.size() / samples);
        for (std::size_t i = 0; i < gradient.size(); i += stride) {
            const double numeric = (perturb(i, step) - perturb(i, -step)) / (2 * step);
            INFO(what << " entry " << i << ": backprop " << gradient.data()[i] << ", finite difference " << numeric);
            CHECK(std::abs(numeric - gradient.data()[i]) <= tolerance * scale);
        }
    };
    check("input", analytic.input, [&](std::size_t i, double h) {
        Tensor4 moved = x;
        moved.data()[i] += float(h);
        return loss(params, moved);
    });
    for (const auto& key : trainable_keys(graph)) {
        REQUIRE(analytic.parameters.count(key));
        check(key, analytic.parameters.at(key), [&](std::size_t i, double h) {
            Parameters moved = params;
            moved.at(key).data()[i] += float(h);
            return loss(moved, x);
        });
    }
}


// A backend's tape as the reference backend's: every value it computed, as a plain
// tensor (the values that layers computed fused into the next stay empty, as they
// are on every backend; see train::detail::Fusion).
template <class Backend>
train::Tape<Tensor4> as_reference_tape(const Graph& graph, const train::TapeOf<Backend>& tape) {
    auto& ops = train::training_ops<Backend>();
    const train::detail::Fusion fusion = train::detail::fusion_of(graph);
    train::Tape<Tensor4> plain;
    plain.mode = tape.mode;
    plain.shapes = tape.shapes;
    plain.statistics = tape.statistics;
    plain.output_tensor = tape.output_tensor;
    plain.values.push_back(Tensor4(ops.to_tensor(tape.values[0])));
    for (std::size_t i = 0; i < graph.layers().size(); ++i) {
        const bool empty = fusion.relu_inside[i] || fusion.compose_with_next[i];
        if (i + 1 < tape.values.size())
            plain.values.push_back(empty ? Tensor4() : Tensor4(ops.to_tensor(tape.values[i + 1])));
    }
    return plain;
}

// Backend against the reference backend on one graph: forward output, batch
// statistics, input gradient and every parameter gradient.
//
// The backward passes are compared on the same forward values (the backend's, as
// the reference's tape): a ReLU input within rounding of zero may fall on either
// side of the kink in the two forward passes, and one such flip legitimately moves
// a training-mode batch norm's gradient by a percent (seen on AVX2, where oneDNN
// rounds differently from AVX-512). The forward passes are compared on their own.
template <class Backend>
void compare_training_backends(const Graph& graph, const Parameters& params, const Tensor4& x,
                               train::Mode mode, double tolerance) {
    auto& fast = train::training_ops<Backend>();
    auto& slow = train::training_ops<reference>();
    const auto fast_tape = train::forward(fast, graph, params, x, mode);
    const auto slow_tape = train::forward(slow, graph, params, x, mode);
    CHECK(max_relative_error(fast_tape.output(), slow_tape.output()) < tolerance);
    for (const auto& [index, stats] : slow_tape.statistics) {
        CHECK(max_relative_error(fast_tape.statistics.at(index).mean, stats.mean) < tolerance);
        CHECK(max_relative_error(fast_tape.statistics.at(index).variance, stats.variance) < tolerance);
    }
    const Tensor4 seed = random_input(slow_tape.output().shape()[0], slow_tape.output().shape()[1], 1, 1, 5);
    const auto same_forward = as_reference_tape<Backend>(graph, fast_tape);
    const auto fast_grads = train::backward(fast, graph, params, fast_tape, seed, {true, true, {}});
    const auto slow_grads = train::backward(slow, graph, params, same_forward, seed, {true, true, {}});
    CHECK(max_relative_error(fast_grads.input, slow_grads.input) < tolerance);
    REQUIRE(fast_grads.parameters.size() == slow_grads.parameters.size());
    for (const auto& [key, expected] : slow_grads.parameters) {
        INFO(key);
        CHECK(max_relative_error(fast_grads.parameters.at(key), expected, 1e-2) < tolerance);
    }
}

// Small graphs with each layer kind once: a convolution (stride 1 or 2, padded or
// not, on odd sizes so strided convolutions leave rows unused), batch norm + ReLU,
// a projection shortcut cropped and added, max-pooling (padded and not), the spatial
// mean and the linear head.
inline std::vector<std::pair<std::string, Graph>> single_layer_graphs() {
    std::vector<std::pair<std::string, Graph>> graphs;
    for (int stride : {1, 2})
        for (int padding : {0, 1}) {
            Graph g;
            const int c = g.convolution(Graph::input, ConvSpec{"c", 3, 5, 3, stride, padding, padding == 1});
            const int shortcut = g.convolution(Graph::input, ConvSpec{"p", 3, 5, 1, stride, 0, false});
            const int sum = g.relu(g.add_cropped(g.relu(g.batch_norm(c, BatchNormSpec{"bn", 5})), shortcut));
            g.linear(g.spatial_mean(sum), LinearSpec{"fc", 5, 4});
            graphs.emplace_back("stride " + std::to_string(stride) + " padding " + std::to_string(padding), g);
        }
    for (const MaxPoolSpec pool : {MaxPoolSpec{3, 2, 1}, MaxPoolSpec{2, 2, 0}}) {  // ResNet's, and unpadded
        Graph g;
        const int c = g.relu(g.batch_norm(g.convolution(Graph::input, ConvSpec{"c", 3, 5, 3, 1, 1, false}),
                                          BatchNormSpec{"bn", 5}));
        g.linear(g.spatial_mean(g.max_pool(c, pool)), LinearSpec{"fc", 5, 4});
        graphs.emplace_back("max-pool " + std::to_string(pool.kernel) + "/" + std::to_string(pool.stride) + "/" +
                                std::to_string(pool.padding),
                            g);
    }
    for (const AveragePoolSpec pool : {AveragePoolSpec{3, 2, 1}, AveragePoolSpec{2, 2, 0}}) {
        Graph g;
        const int c = g.relu(g.convolution(Graph::input, ConvSpec{"c", 3, 5, 3, 1, 1, false}));
        // pooled + c's top-left: the crop-and-add must not write over the pooling's output, which
        // the pooling's backward pass is given (backward_reads_output).
        const int sum = g.add_cropped(g.average_pool(c, pool), c);
        g.linear(g.spatial_mean(sum), LinearSpec{"fc", 5, 4});
        graphs.emplace_back("average pool " + std::to_string(pool.kernel) + "/" + std::to_string(pool.stride) + "/" +
                                std::to_string(pool.padding),
                            g);
    }
    return graphs;
}

// A graph where every fusion backprop does happens (see train::detail::Fusion), on
// 3 x 13 x 11 inputs.
inline Graph fusion_graph() {
    // Six channels (oneDNN pads its blocks of 16), a bias-free 1x1 convolution composed into the
    // 3x3 after it, batch norms with their ReLU inside, a cropped projection shortcut added over
    // its main input, an identity shortcut whose main input (a ReLU's output) must be kept, and a
    // ReLU on its own.
    Graph g;
    int x = g.convolution(Graph::input, ConvSpec{"c1", 3, 6, 1, 1, 0, false});  // 13 x 11
    x = g.relu(g.batch_norm(g.convolution(x, ConvSpec{"c2", 6, 6, 3, 1, 0, false}), BatchNormSpec{"bn2", 6}));
    const int main = g.batch_norm(g.convolution(x, ConvSpec{"c3", 6, 6, 3, 2, 0, false}), BatchNormSpec{"bn3", 6});
    const int shortcut =
        g.batch_norm(g.convolution(x, ConvSpec{"down", 6, 6, 1, 2, 0, false}), BatchNormSpec{"down.bn", 6});
    x = g.relu(g.add_cropped(main, shortcut));  // 5 x 4 and 6 x 5 cropped
    const int again = g.relu(g.convolution(x, ConvSpec{"c4", 6, 6, 1, 1, 0, true}));
    x = g.relu(g.add_cropped(again, x));
    g.linear(g.spatial_mean(x), LinearSpec{"fc", 6, 4});
    return g;
}

}  // namespace bagnet::testing
