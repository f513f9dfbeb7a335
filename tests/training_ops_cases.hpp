#pragma once
// The training-ops tests every fast backend passes against the reference backend,
// written once: a test file defines BAGNET_TRAINING_BACKENDS (its backends, a
// comma-separated list of types) and includes this header. The CPU tests run them
// for bagnet::cpu, the CUDA test binary for bagnet::cuda.
#include <catch2/catch.hpp>

#include "train_test_support.hpp"

#ifndef BAGNET_TRAINING_BACKENDS
#error "define BAGNET_TRAINING_BACKENDS (the backends to test) before including training_ops_cases.hpp"
#endif

TEMPLATE_TEST_CASE("training ops equal the reference on single layers", "[train]", BAGNET_TRAINING_BACKENDS) {
    using bagnet::testing::random_input;
    using bagnet::testing::random_parameters;
    for (const auto& [name, g] : bagnet::testing::single_layer_graphs()) {
        INFO(name);
        for (bagnet::train::Mode mode : {bagnet::train::Mode::training, bagnet::train::Mode::evaluation})
            bagnet::testing::compare_training_backends<TestType>(g, random_parameters(g, 1), random_input(3, 3, 8, 9, 2),
                                                                 mode, 1e-4);
    }
}

TEMPLATE_TEST_CASE("training ops equal the reference where layers run fused or composed or in place", "[train]",
                   BAGNET_TRAINING_BACKENDS) {
    using bagnet::testing::random_input;
    using bagnet::testing::random_parameters;
    const bagnet::Graph g = bagnet::testing::fusion_graph();
    for (bagnet::train::Mode mode : {bagnet::train::Mode::training, bagnet::train::Mode::evaluation}) {
        INFO((mode == bagnet::train::Mode::training ? "training" : "evaluation") << " mode");
        bagnet::testing::compare_training_backends<TestType>(g, random_parameters(g, 11), random_input(3, 3, 13, 11, 12),
                                                             mode, 2e-4);
    }
}

TEMPLATE_TEST_CASE("training ops equal the reference on whole BagNets", "[train]", BAGNET_TRAINING_BACKENDS) {
    using bagnet::testing::random_input;
    using bagnet::testing::random_parameters;
    const bagnet::Graph small = bagnet::make_architecture<bagnet::small<10, 1>>(9).graph;
    bagnet::testing::compare_training_backends<TestType>(small, random_parameters(small, 3), random_input(4, 1, 28, 28, 4),
                                                         bagnet::train::Mode::training, 2e-4);
    // A deep random net in training mode is ill-conditioned (batch statistics of
    // few values amplify rounding), so the ImageNet-size net is compared in
    // evaluation mode; training mode is covered by the small net above.
    const bagnet::Graph big = bagnet::make_architecture<bagnet::imagenet>(17, 7).graph;
    bagnet::testing::compare_training_backends<TestType>(big, random_parameters(big, 5), random_input(2, 3, 41, 34, 6),
                                                         bagnet::train::Mode::evaluation, 1e-4);
}
