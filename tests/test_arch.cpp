// The architecture description against the published models' facts.
#include <catch2/catch.hpp>

#include <array>
#include <set>
#include <string>

#include "bagnet/bagnet.hpp"
#include "bagnet/train.hpp"

namespace {

std::size_t learned_parameter_count(const bagnet::Architecture& arch) {
    std::size_t count = 0;
    for (const auto& slot : bagnet::parameter_slots(arch)) {
        if (!slot.trainable()) continue;
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

TEST_CASE("every named family builds each of its patch sizes, and the help text lists them all", "[arch]") {
    const std::string names = bagnet::architecture_names();
    for (const auto& family : bagnet::architecture_families()) {
        REQUIRE_FALSE(family.patch_sizes.empty());
        for (int q : family.patch_sizes) {
            const std::string name = family.prefix + std::to_string(q);
            const bagnet::Architecture arch = bagnet::architecture_by_name(name, 7);
            CHECK(arch.name == name);
            CHECK(arch.patch_size == q);
            CHECK(bagnet::receptive_field(arch.graph) == q);
            CHECK(arch.classes() == 7);
            CHECK(names.find(std::to_string(q)) != std::string::npos);
        }
        CHECK(names.find(family.prefix + "<q>") != std::string::npos);
    }
    // The published ImageNet models only: the layout admits q = 5, no weights exist for it.
    CHECK_THROWS_WITH(bagnet::architecture_by_name("bagnet5"), Catch::Contains("bagnet<q>") && Catch::Contains("9, 17 or 33"));
    CHECK_THROWS_WITH(bagnet::architecture_by_name("fashion8"), Catch::Contains("unknown architecture 'fashion8'"));
    CHECK_THROWS_WITH(bagnet::architecture_by_name("fashionfine25"), Catch::Contains("3, 5, 9, 13 or 17"));
    CHECK(bagnet::architecture_by_name("resnet50").patch_size == 0);
}

// A configuration of three stages, to show that the last stage is found rather than assumed.
struct three_stages {
    static constexpr int in_channels = 1;
    static constexpr int classes = 4;
    static constexpr int stem_width = 8;
    static constexpr std::array<int, 3> widths{8, 16, 32};
    static constexpr std::array<int, 3> blocks{1, 2, 1};
    static constexpr std::array<int, 3> strides{2, 1, 1};
};

TEST_CASE("the last stage of bottlenecks is the network's own: what fine-tuning the last stage trains", "[arch]") {
    CHECK(bagnet::last_stage_prefix(bagnet::architecture_by_name("bagnet33")) == "layer4.");
    CHECK(bagnet::last_stage_prefix(bagnet::resnet50_architecture()) == "layer4.");
    const bagnet::Architecture three =
        bagnet::make_architecture<three_stages>(bagnet::valid_patch_sizes<three_stages>().back());
    CHECK(bagnet::last_stage_prefix(three) == "layer3.");
    const auto frozen = bagnet::train::frozen_for(three, bagnet::train::FineTune::last_stage);
    for (const auto& slot : bagnet::parameter_slots(three))
        CHECK(frozen.count(slot.key) == (slot.key.rfind("layer3.", 0) != 0 && slot.key.rfind("fc.", 0) != 0));
}

TEST_CASE("a tensor's key is its layer's name and its slot's PyTorch suffix", "[arch]") {
    using bagnet::TensorSlot;
    CHECK(bagnet::tensor_key("layer1.0.bn2", TensorSlot::running_var) == "layer1.0.bn2.running_var");
    CHECK(bagnet::key(bagnet::LinearSpec{"fc", 2048, 1000}, TensorSlot::bias) == "fc.bias");
    // Each tensor of ResNet-50 once, trainable exactly when it is a weight or a bias.
    std::set<std::string> seen;
    for (const auto& t : bagnet::tensors_of(bagnet::resnet50_architecture().graph)) {
        CHECK(seen.insert(t.key).second);
        const bool statistic = t.key.find("running_") != std::string::npos || t.key.find("num_batches") != std::string::npos;
        CHECK(t.trainable() == !statistic);
        CHECK(t.is_counter() == (t.key.find("num_batches_tracked") != std::string::npos));
    }
    CHECK(seen.size() == 320);  // torchvision's resnet50 state_dict
}

namespace {
// A backend's training ops with two of its members: the contract must see the rest missing.
struct TwoMembers {
    using Value = bagnet::Tensor4;
    Value import(bagnet::Tensor4 x) { return x; }
    const bagnet::Tensor4& to_tensor(const Value& x) { return x; }
};
}  // namespace

TEST_CASE("the training contract is checked member by member at compile time", "[arch]") {
    using namespace bagnet::train::contract;
    STATIC_REQUIRE(satisfies_training_contract<bagnet::train::TrainingOps<bagnet::reference>>);
    STATIC_REQUIRE(satisfies_training_contract<bagnet::train::TrainingOps<bagnet::cpu>>);
    STATIC_REQUIRE(has_import<TwoMembers>::value);
    STATIC_REQUIRE(has_to_tensor<TwoMembers>::value);
    STATIC_REQUIRE_FALSE(has_max_pool_backward<TwoMembers>::value);
    STATIC_REQUIRE_FALSE(has_add_to<TwoMembers>::value);
    STATIC_REQUIRE_FALSE(satisfies_training_contract<TwoMembers>);
    STATIC_REQUIRE_FALSE(has_value<int>::value);
}

TEST_CASE("a recipe's fit options carry its length, label smoothing and accumulation", "[arch][train]") {
    bagnet::train::Recipe recipe = bagnet::train::fashion_mnist_recipe();
    recipe.accumulate = 4;
    bagnet::train::FitOptions by_epochs = recipe.fit_options();
    CHECK(by_epochs.epochs == 12);
    CHECK(by_epochs.steps == 0);
    CHECK(by_epochs.train.label_smoothing == 0.1);
    CHECK(by_epochs.train.accumulate == 4);
    recipe.steps = 30;
    CHECK(recipe.fit_options().steps == 30);
}

TEST_CASE("the inference contract is checked at compile time", "[arch]") {
    using namespace bagnet::executor_contract;
    STATIC_REQUIRE(satisfied<bagnet::Executor<bagnet::reference>>);
    STATIC_REQUIRE(satisfied<bagnet::Executor<bagnet::cpu>>);
    STATIC_REQUIRE_FALSE(satisfied<TwoMembers>);
    STATIC_REQUIRE_FALSE(has_invalidate<TwoMembers>::value);
}
