// The oneDNN `cpu` backend against the plain `reference` backend, with random
// weights and random batch-norm statistics (so folding is exercised).
#include <catch2/catch.hpp>

#include "random_tensors.hpp"
#include "bagnet/bagnet.hpp"

namespace {

using bagnet::testing::random_input;
using bagnet::testing::random_images;
using bagnet::testing::max_relative_error;
using bagnet::testing::randomize;

template <int Q>
void compare_backends(std::size_t n, std::size_t h, std::size_t w, bagnet::Precision precision, double tolerance) {
    bagnet::BagNet<Q, bagnet::imagenet, bagnet::cpu> fast(50);
    bagnet::BagNet<Q, bagnet::imagenet, bagnet::reference> slow(50);
    randomize(fast, 7);
    slow.mutable_parameters() = fast.parameters();
    fast.precision(precision);
    const auto x = random_input(n, 3, h, w, 3);
    const auto expected_map = bagnet::logit_map(slow, x);
    const auto expected = bagnet::logits(slow, x);
    CHECK(max_relative_error(bagnet::logit_map(fast, x), expected_map) < tolerance);
    CHECK(max_relative_error(bagnet::logits(fast, x), expected) < tolerance);
}

}  // namespace

TEST_CASE("cpu backend equals the reference backend in fp32", "[backend][cpu]") {
    compare_backends<9>(2, 45, 38, bagnet::Precision::fp32, 1e-4);
    compare_backends<17>(1, 33, 50, bagnet::Precision::fp32, 1e-4);
    compare_backends<33>(2, 41, 33, bagnet::Precision::fp32, 1e-4);
}

// Layer by layer: the network cut after every block (a fresh linear head on the
// block's output), so a disagreement is pinned to the block that causes it.
TEST_CASE("cpu backend equals the reference backend after every block", "[backend][cpu]") {
    const bagnet::Architecture full = bagnet::make_architecture<bagnet::imagenet>(33, 20);
    std::vector<int> block_outputs;  // the stem's ReLU, then each block's
    const auto& layers = full.graph.layers();
    for (std::size_t i = 0; i < layers.size(); ++i)
        if (layers[i].kind == bagnet::LayerKind::relu &&
            (layers[i].input == 3 || layers[std::size_t(layers[i].input - 1)].kind == bagnet::LayerKind::add_cropped))
            block_outputs.push_back(int(i + 1));
    REQUIRE(block_outputs.size() == 17);
    for (std::size_t blocks = 0; blocks < block_outputs.size(); ++blocks) {
        bagnet::Architecture cut = full;
        cut.graph = full.graph.up_to(block_outputs[blocks]);
        const int channels = int(bagnet::value_shapes(cut.graph, {1, 3, 35, 34}).back()[1]);
        cut.graph.linear(cut.graph.spatial_mean(cut.graph.output()), bagnet::LinearSpec{"fc", channels, 20});
        INFO("after " << blocks << " blocks");
        bagnet::Model<bagnet::cpu> fast(cut, blocks);
        bagnet::Model<bagnet::reference> slow(cut);
        randomize(fast, blocks);
        slow.mutable_parameters() = fast.parameters();
        const auto x = random_input(1, 3, 35, 34, blocks);
        CHECK(max_relative_error(bagnet::logit_map(fast, x), bagnet::logit_map(slow, x)) < 1e-4);
    }
}

TEST_CASE("cpu backend in bf16 stays close to fp32", "[backend][cpu][bf16]") {
    if (!bagnet::backend::cpu::cpu_has_bf16()) {
        WARN("skipped: this CPU has no bf16 instructions");
        return;
    }
    compare_backends<33>(2, 41, 37, bagnet::Precision::bf16, 3e-2);
}

TEST_CASE("a failure inside oneDNN reaches the caller as bagnet::Error", "[backend][cpu][errors]") {
    // A memory descriptor of negative size: oneDNN itself refuses it with dnnl::error.
    const auto impossible = [] {
        return dnnl::memory::desc({-3, 4}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
    };
    REQUIRE_THROWS_AS(impossible(), dnnl::error);
    CHECK_THROWS_AS(bagnet::with_backend_errors<bagnet::cpu>(impossible), bagnet::Error);
    CHECK_THROWS_WITH(bagnet::with_backend_errors<bagnet::cpu>(impossible), Catch::Contains("oneDNN failed"));
    // The other backends report their own errors as bagnet::Error already; nothing is changed on the way.
    CHECK(bagnet::with_backend_errors<bagnet::reference>([] { return 7; }) == 7);
}
