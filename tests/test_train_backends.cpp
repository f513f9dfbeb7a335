// The cpu backend's training ops (oneDNN backward primitives) against the
// reference backend, layer by layer and through whole BagNets.
#include <catch2/catch.hpp>

#include "bagnet/backend/onednn/training.hpp"
#include "train_test_support.hpp"

using namespace bagnet;
using bagnet::testing::max_relative_error;
using bagnet::testing::random_parameters;
using bagnet::testing::random_input;
using train::Graph;
using train::Mode;

namespace {

// Forward output, input gradient and every parameter gradient, both backends.
void compare_backends(const Graph& graph, const Parameters& params, const Tensor4& x, Mode mode, double tolerance) {
    auto& fast = train::training_ops<cpu>();
    auto& slow = train::training_ops<reference>();
    const auto fast_tape = train::forward(fast, graph, params, x, mode);
    const auto slow_tape = train::forward(slow, graph, params, x, mode);
    CHECK(max_relative_error(fast_tape.output(), slow_tape.output()) < tolerance);
    for (const auto& [index, stats] : slow_tape.statistics) {
        CHECK(max_relative_error(fast_tape.statistics.at(index).mean, stats.mean) < tolerance);
        CHECK(max_relative_error(fast_tape.statistics.at(index).variance, stats.variance) < tolerance);
    }
    const Tensor4 seed = random_input(slow_tape.output().shape()[0], slow_tape.output().shape()[1], 1, 1, 5);
    const auto fast_grads = train::backward(fast, graph, params, fast_tape, seed, {true, true, {}});
    const auto slow_grads = train::backward(slow, graph, params, slow_tape, seed, {true, true, {}});
    CHECK(max_relative_error(fast_grads.input, slow_grads.input) < tolerance);
    REQUIRE(fast_grads.parameters.size() == slow_grads.parameters.size());
    for (const auto& [key, expected] : slow_grads.parameters) {
        INFO(key);
        CHECK(max_relative_error(fast_grads.parameters.at(key), expected, 1e-2) < tolerance);
    }
}

}  // namespace

TEST_CASE("cpu training ops equal the reference on single layers", "[train][cpu]") {
    for (int stride : {1, 2})
        for (int padding : {0, 1}) {
            Graph g;  // odd sizes: strided convolutions leave rows unused
            const int c = g.convolution(Graph::input, ConvSpec{"c", 3, 5, 3, stride, padding, padding == 1});
            g.linear(g.spatial_mean(g.relu(g.batch_norm(c, BatchNormSpec{"bn", 5}))), LinearSpec{"fc", 5, 4});
            INFO("stride " << stride << " padding " << padding);
            for (Mode mode : {Mode::training, Mode::evaluation})
                compare_backends(g, random_parameters(g, 1), random_input(3, 3, 8, 9, 2), mode, 1e-4);
        }
}

TEST_CASE("cpu training ops equal the reference where layers run fused or composed or in place",
          "[train][cpu]") {
    // Six channels (oneDNN pads its blocks of 16), a bias-free 1x1 convolution composed into the
    // 3x3 after it, batch norms with their ReLU inside, a cropped projection shortcut added over
    // its main input, an identity shortcut whose main input (a ReLU's output) must be kept, and a
    // ReLU on its own.
    Graph g;
    int x = g.convolution(Graph::input, ConvSpec{"c1", 3, 6, 1, 1, 0, false});  // 13 x 11
    x = g.relu(g.batch_norm(g.convolution(x, ConvSpec{"c2", 6, 6, 3, 1, 0, false}), BatchNormSpec{"bn2", 6}));
    const int main =
        g.batch_norm(g.convolution(x, ConvSpec{"c3", 6, 6, 3, 2, 0, false}), BatchNormSpec{"bn3", 6});
    const int shortcut =
        g.batch_norm(g.convolution(x, ConvSpec{"down", 6, 6, 1, 2, 0, false}), BatchNormSpec{"down.bn", 6});
    x = g.relu(g.add_cropped(main, shortcut));  // 5 x 4 and 6 x 5 cropped
    const int again = g.relu(g.convolution(x, ConvSpec{"c4", 6, 6, 1, 1, 0, true}));
    x = g.relu(g.add_cropped(again, x));
    g.linear(g.spatial_mean(x), LinearSpec{"fc", 6, 4});
    for (Mode mode : {Mode::training, Mode::evaluation}) {
        INFO((mode == Mode::training ? "training" : "evaluation") << " mode");
        compare_backends(g, random_parameters(g, 11), random_input(3, 3, 13, 11, 12), mode, 2e-4);
    }
}

TEST_CASE("cpu training ops equal the reference on whole BagNets", "[train][cpu]") {
    const auto small = make_architecture<bagnet::small<10, 1>>(9);
    const Graph g = train::graph_of(small);
    compare_backends(g, random_parameters(g, 3), random_input(2, 1, 28, 28, 4), Mode::training, 2e-4);
    // A deep random net in training mode is ill-conditioned (batch statistics of
    // few values amplify rounding), so the ImageNet-size net is compared in
    // evaluation mode; training mode is covered by the small net above.
    const auto q17 = make_architecture<imagenet>(17, 7);
    const Graph big = train::graph_of(q17);
    compare_backends(big, random_parameters(big, 5), random_input(2, 3, 41, 34, 6), Mode::evaluation, 1e-4);
}
