// The architecture description against the published models' facts.
#include <catch2/catch.hpp>

#include "bagnet/bagnet.hpp"

namespace {

std::size_t learned_parameter_count(const bagnet::Architecture& arch) {
    std::size_t count = 0;
    for (const auto& slot : bagnet::parameter_slots(arch)) {
        const bool statistic = slot.is_counter || slot.key.find("running_") != std::string::npos;
        if (statistic) continue;
        std::size_t elements = 1;
        for (auto d : slot.shape) elements *= d;
        count += elements;
    }
    return count;
}

}  // namespace

TEST_CASE("ImageNet BagNets match the published checkpoints", "[arch]") {
    const auto q9 = bagnet::make_architecture<bagnet::imagenet>(9);
    const auto q17 = bagnet::make_architecture<bagnet::imagenet>(17);
    const auto q33 = bagnet::make_architecture<bagnet::imagenet>(33);
    CHECK(bagnet::parameter_slots(q33).size() == 321);
    CHECK(learned_parameter_count(q9) == 15688744);
    CHECK(learned_parameter_count(q17) == 16213032);
    CHECK(learned_parameter_count(q33) == 18310184);
    CHECK(q9.map_size(224) == 27);
    CHECK(q17.map_size(224) == 26);
    CHECK(q33.map_size(224) == 24);
    CHECK(q33.min_input_size() == 33);
    CHECK(q33.map_size(33) == 1);
    CHECK(q9.min_input_size() == 9);
    std::size_t blocks = 0;  // one crop-and-add per bottleneck
    const auto named17 = bagnet::imagenet_architecture("bagnet17");
    for (const auto& layer : named17.graph.layers())
        blocks += layer.kind == bagnet::LayerKind::add_cropped;
    CHECK(blocks == 16);
    CHECK_THROWS_WITH(bagnet::imagenet_architecture("bagnet32"), Catch::Contains("bagnet32"));
}

TEST_CASE("receptive field decides which stages keep a 3x3 convolution", "[arch]") {
    STATIC_REQUIRE(bagnet::valid_patch_size<bagnet::imagenet>(9));
    STATIC_REQUIRE(bagnet::valid_patch_size<bagnet::imagenet>(17));
    STATIC_REQUIRE(bagnet::valid_patch_size<bagnet::imagenet>(33));
    STATIC_REQUIRE_FALSE(bagnet::valid_patch_size<bagnet::imagenet>(11));
    STATIC_REQUIRE(bagnet::valid_patch_size<bagnet::small<>>(9));
    const auto q17 = bagnet::make_architecture<bagnet::imagenet>(17);
    std::vector<std::string> three_by_three;
    for (const auto& layer : q17.graph.layers())  // the stages' 3x3 convolutions, after the stem's
        if (layer.kind == bagnet::LayerKind::convolution && layer.conv.kernel == 3 && layer.conv.name != "conv2")
            three_by_three.push_back(layer.conv.name);
    CHECK(three_by_three == std::vector<std::string>{"layer1.0.conv2", "layer2.0.conv2", "layer3.0.conv2"});
    CHECK_THROWS_AS(bagnet::make_architecture<bagnet::imagenet>(13), bagnet::Error);
}

TEST_CASE("fashionfine keeps the second stage's resolution: a 10 x 10 map for q = 9 on 28 x 28", "[arch]") {
    const auto fine9 = bagnet::architecture_by_name("fashionfine9");
    CHECK(fine9.patch_size == 9);
    CHECK(fine9.map_size(28) == 10);
    CHECK(bagnet::architecture_by_name("fashionfine5").map_size(28) == 12);
    CHECK(bagnet::architecture_by_name("fashion9").map_size(28) == 5);
    CHECK(bagnet::architecture_by_name("fashionfine13").patch_size == 13);
    CHECK_THROWS_WITH(bagnet::architecture_by_name("fashionfine25"), Catch::Contains("fashionfine<q>"));
}
