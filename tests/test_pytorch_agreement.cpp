// bagnet against the tests' PyTorch model of the architecture: checkpoints made
// by PyTorch (random weights, random batch-norm statistics), converted by
// tools/convert_checkpoint.py, loaded by the library; outputs compared with the
// reference computed in float64.
#include <catch2/catch.hpp>

#include "bagnet/bagnet.hpp"
#include "bagnet/io/npy.hpp"
#include "fixtures.hpp"

namespace {

using bagnet::testing::fixture;

double relative_error(const bagnet::Tensor& actual, const bagnet::Tensor& expected) {
    REQUIRE(actual.shape() == expected.shape());
    return double(xt::amax(xt::abs(actual - expected))()) / double(xt::amax(xt::abs(expected))());
}

struct Case {
    std::string directory;
    bagnet::Architecture arch;
};

std::vector<Case> cases() {
    return {{"infer_q9", bagnet::make_architecture<bagnet::imagenet>(9)},
            {"infer_q17", bagnet::make_architecture<bagnet::imagenet>(17)},
            {"infer_q33", bagnet::make_architecture<bagnet::imagenet>(33)},
            {"infer_q33_min", bagnet::make_architecture<bagnet::imagenet>(33)},
            {"infer_small9", bagnet::make_architecture<bagnet::small<10, 1>>(9)}};
}

// The plain reference backend is slow: it checks the smallest ImageNet BagNet and the small one.
template <class Backend>
std::vector<Case> cases_on() {
    const std::vector<Case> all = cases();
    return std::is_same<Backend, bagnet::reference>::value ? std::vector<Case>{all[0], all[4]} : all;
}

template <class Backend>
void check_against_pytorch(const Case& c, bagnet::Precision precision, double tolerance) {
    INFO(c.directory << " " << bagnet::to_string(precision));
    bagnet::Model<Backend> model(c.arch);
    model.load(fixture(c.directory + "/weights.safetensors")).precision(precision);
    const bagnet::Tensor4 x = bagnet::io::load_npy_float(fixture(c.directory + "/input.npy"));
    CHECK(relative_error(bagnet::logits(model, x), bagnet::io::load_npy_float(fixture(c.directory + "/logits.npy"))) <
          tolerance);
    CHECK(relative_error(bagnet::logit_map(model, x),
                         bagnet::io::load_npy_float(fixture(c.directory + "/logit_map.npy"))) < tolerance);
}

}  // namespace

TEMPLATE_TEST_CASE("each backend reproduces the PyTorch model in fp32", "[pytorch]", bagnet::cpu, bagnet::reference) {
    for (const auto& c : cases_on<TestType>()) check_against_pytorch<TestType>(c, bagnet::Precision::fp32, 1e-3);
}

TEST_CASE("cpu backend in bf16 stays within 3e-2 of the PyTorch model", "[pytorch][cpu][bf16]") {
    if (!bagnet::backend::cpu::cpu_has_bf16()) {
        WARN("skipped: this CPU has no bf16 instructions");
        return;
    }
    for (const auto& c : cases()) check_against_pytorch<bagnet::cpu>(c, bagnet::Precision::bf16, 3e-2);
}

TEST_CASE("loading weights checks every key and shape", "[pytorch][weights]") {
    bagnet::BagNet<33> model;
    const std::string q9_weights = fixture("infer_q9/weights.safetensors");
    REQUIRE_THROWS_WITH(model.load(q9_weights), Catch::Contains("layer3.0.conv2.weight") &&
                                                    Catch::Contains("[256, 256, 1, 1]") &&
                                                    Catch::Contains("[256, 256, 3, 3]"));
    bagnet::BagNet<9, bagnet::small<10, 1>> small;
    REQUIRE_THROWS_WITH(small.load(q9_weights), Catch::Contains("unexpected") && Catch::Contains("layer1.1."));
    bagnet::BagNet<9> ten_classes(10);
    REQUIRE_THROWS_WITH(ten_classes.load(q9_weights), Catch::Contains("fc.weight") && Catch::Contains("[10, 2048]"));
}
