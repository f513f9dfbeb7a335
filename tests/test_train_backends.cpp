// The cpu backend's training ops (oneDNN backward primitives) against the
// reference backend, layer by layer and through whole BagNets.
#include <catch2/catch.hpp>

#include "bagnet/backend/onednn/training.hpp"
#include "train_test_support.hpp"

using namespace bagnet;
using bagnet::testing::compare_training_backends;
using bagnet::testing::random_parameters;
using bagnet::testing::random_input;
using train::Mode;

TEST_CASE("cpu training ops equal the reference on single layers", "[train][cpu]") {
    for (const auto& [name, g] : bagnet::testing::single_layer_graphs()) {
        INFO(name);
        for (Mode mode : {Mode::training, Mode::evaluation})
            compare_training_backends<cpu>(g, random_parameters(g, 1), random_input(3, 3, 8, 9, 2), mode, 1e-4);
    }
}

TEST_CASE("cpu training ops equal the reference where layers run fused or composed or in place", "[train][cpu]") {
    const Graph g = bagnet::testing::fusion_graph();
    for (Mode mode : {Mode::training, Mode::evaluation}) {
        INFO((mode == Mode::training ? "training" : "evaluation") << " mode");
        compare_training_backends<cpu>(g, random_parameters(g, 11), random_input(3, 3, 13, 11, 12), mode, 2e-4);
    }
}

TEST_CASE("cpu training ops equal the reference on whole BagNets", "[train][cpu]") {
    const auto small = make_architecture<bagnet::small<10, 1>>(9);
    const Graph g = small.graph;
    compare_training_backends<cpu>(g, random_parameters(g, 3), random_input(2, 1, 28, 28, 4), Mode::training, 2e-4);
    // A deep random net in training mode is ill-conditioned (batch statistics of
    // few values amplify rounding), so the ImageNet-size net is compared in
    // evaluation mode; training mode is covered by the small net above.
    const auto q17 = make_architecture<imagenet>(17, 7);
    const Graph big = q17.graph;
    compare_training_backends<cpu>(big, random_parameters(big, 5), random_input(2, 3, 41, 34, 6), Mode::evaluation, 1e-4);
}
