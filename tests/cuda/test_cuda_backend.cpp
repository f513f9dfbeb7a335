// The `cuda` backend against the plain `reference` backend, with random weights
// and random batch-norm statistics (so folding is exercised): fp32 to 1e-3
// relative, bf16 to 3e-2, for q = 9, 17 and 33, logits, logit maps and the dense
// heatmap. Includes no oneDNN, so the binary can be carried to a GPU machine alone.
#include <catch2/catch.hpp>

#include <limits>
#include <utility>

#include "../random_tensors.hpp"
#include "bagnet/backend/cuda/executor.hpp"
#include "bagnet/backend/reference/executor.hpp"
#include "bagnet/explain/heatmap.hpp"
#include "bagnet/inference.hpp"

namespace {

using bagnet::Precision;
using bagnet::testing::max_relative_error;
using bagnet::testing::random_input;
using bagnet::testing::randomize;

template <int Q, class Config = bagnet::imagenet>
std::pair<bagnet::BagNet<Q, Config, bagnet::cuda>, bagnet::BagNet<Q, Config, bagnet::reference>> model_pair(
    int classes, std::uint64_t seed) {
    bagnet::BagNet<Q, Config, bagnet::cuda> gpu(classes);
    bagnet::BagNet<Q, Config, bagnet::reference> reference(classes);
    randomize(gpu, seed);
    reference.mutable_parameters() = gpu.parameters();
    return {std::move(gpu), std::move(reference)};
}

template <int Q>
void compare(std::size_t n, std::size_t h, std::size_t w, Precision precision, double tolerance, bool tf32 = false) {
    auto [gpu, reference] = model_pair<Q>(50, Q);
    gpu.precision(precision);
    gpu.executor().allow_tf32(tf32);
    const auto x = random_input(n, 3, h, w, Q + n);
    INFO("q = " << Q << ", input " << n << " x 3 x " << h << " x " << w << ", " << bagnet::to_string(precision)
                << (tf32 ? " (TF32 allowed)" : ""));
    const double map_error = max_relative_error(bagnet::logit_map(gpu, x), bagnet::logit_map(reference, x));
    const double logits_error = max_relative_error(bagnet::logits(gpu, x), bagnet::logits(reference, x));
    UNSCOPED_INFO("logit map error " << map_error << ", logits error " << logits_error);
    CHECK(map_error < tolerance);
    CHECK(logits_error < tolerance);
}

}  // namespace

TEST_CASE("cuda backend equals the reference backend in fp32", "[cuda]") {
    compare<9>(2, 45, 38, Precision::fp32, 1e-3);
    compare<17>(1, 33, 50, Precision::fp32, 1e-3);
    compare<33>(3, 41, 33, Precision::fp32, 1e-3);
    compare<33>(1, 96, 80, Precision::fp32, 1e-3);
}

TEST_CASE("cuda backend in bf16 stays within 3e-2 of the reference", "[cuda][bf16]") {
    compare<9>(2, 45, 38, Precision::bf16, 3e-2);
    compare<17>(1, 33, 50, Precision::bf16, 3e-2);
    compare<33>(3, 41, 33, Precision::bf16, 3e-2);
}

TEST_CASE("cuda backend with TF32 allowed stays within 1e-2 of the reference", "[cuda][tf32]") {
    compare<33>(2, 41, 37, Precision::fp32, 1e-2, true);
}

TEST_CASE("cuda dense heatmap equals the reference backend's", "[cuda][heatmap]") {
    auto [gpu, reference] = model_pair<9, bagnet::small<6, 3>>(6, 11);
    const auto x = random_input(2, 3, 21, 19, 5);
    const auto expected = bagnet::dense_heatmap(reference, x, bagnet::ClassChoice::top(2));
    const auto actual = bagnet::dense_heatmap(gpu, x, bagnet::ClassChoice::top(2));
    CHECK(actual.classes == expected.classes);
    CHECK(max_relative_error(actual.evidence, expected.evidence) < 1e-3);
}

TEST_CASE("cuda plans for several shapes and precisions coexist, and a moved model keeps working", "[cuda]") {
    auto [gpu, reference] = model_pair<17>(20, 3);
    const auto a = random_input(2, 3, 40, 40, 1), b = random_input(1, 3, 35, 52, 2);
    const auto expected_a = bagnet::logits(reference, a), expected_b = bagnet::logits(reference, b);
    for (int round = 0; round < 2; ++round) {
        CHECK(max_relative_error(bagnet::logits(gpu, a), expected_a) < 1e-3);
        CHECK(max_relative_error(bagnet::logits(gpu, b), expected_b) < 1e-3);
        gpu.precision(Precision::bf16);
        CHECK(max_relative_error(bagnet::logits(gpu, a), expected_a) < 3e-2);
        gpu.precision(Precision::fp32);
    }
    auto moved = std::move(gpu);
    CHECK(max_relative_error(bagnet::logits(moved, a), expected_a) < 1e-3);
    // New weights replace the plans' folded copies.
    randomize(moved, 99);
    reference.mutable_parameters() = moved.parameters();
    CHECK(max_relative_error(bagnet::logits(moved, b), bagnet::logits(reference, b)) < 1e-3);
}

TEST_CASE("running out of GPU memory is a one-line error that says how much was needed", "[cuda]") {
    CHECK_THROWS_WITH(bagnet::backend::cuda::DeviceBuffer(std::size_t(1) << 50, "a test buffer"),
                      Catch::Matchers::StartsWith("out of GPU memory: a test buffer needs 1073741824 MiB"));
}

TEST_CASE("without a GPU a cuda model says so in one line and computes nothing", "[no-gpu]") {
    if (bagnet::backend::cuda::gpu_available()) {
        SUCCEED("a GPU is present: nothing to check here");
        return;
    }
    bagnet::BagNet<9, bagnet::small<4, 3>, bagnet::cuda> model(4);  // building and loading need no GPU
    CHECK_THROWS_WITH(bagnet::logits(model, random_input(1, 3, 20, 20, 1)),
                      Catch::Matchers::StartsWith("no CUDA GPU is available (") &&
                          Catch::Matchers::EndsWith("use the cpu backend"));
}

TEST_CASE("an input of the wrong shape is rejected before the GPU is touched", "[no-gpu]") {
    bagnet::BagNet<9, bagnet::small<4, 3>, bagnet::cuda> model(4);
    CHECK_THROWS_WITH(bagnet::logits(model, random_input(1, 1, 20, 20, 1)), Catch::Matchers::Contains("input channels"));
    CHECK_THROWS_WITH(bagnet::logits(model, random_input(1, 3, 8, 20, 1)), Catch::Matchers::Contains("at least"));
}

TEST_CASE("a NaN or infinity in the input is found on the GPU and reported in one line", "[cuda]") {
    auto [gpu, reference] = model_pair<9, bagnet::small<4, 3>>(4, 5);
    const auto good = random_input(2, 3, 20, 20, 1);
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::infinity()}) {
        auto x = good;
        x(1, 2, 19, 3) = bad;
        CHECK_THROWS_WITH(bagnet::logits(gpu, x), "the input contains non-finite values (NaN or infinity)");
        CHECK_THROWS_WITH(bagnet::dense_heatmap(gpu, x, 0), "the input contains non-finite values (NaN or infinity)");
    }
    // The model is not left in a bad state.
    CHECK(max_relative_error(bagnet::logits(gpu, good), bagnet::logits(reference, good)) < 1e-3);
}
