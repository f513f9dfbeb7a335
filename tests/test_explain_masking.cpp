// Masking on a BagNet: occlusion only moves the evidence of the patches it touches,
// masking two regions no patch spans is exactly additive, scrambling moves whole patches.
#include <catch2/catch.hpp>

#include <random>

#include "random_tensors.hpp"
#include "bagnet/bagnet.hpp"
#include "bagnet/explain/masking.hpp"
#include "bagnet/explain/scrambling.hpp"
#include "error_matchers.hpp"

namespace {

using bagnet::testing::random_input;
using bagnet::testing::random_images;
using bagnet::testing::max_relative_error;

using SmallNet = bagnet::BagNet<9, bagnet::small<4, 1>>;  // q = 9, output stride 4

}  // namespace

TEST_CASE("occluding a region changes only the evidence of the patches overlapping it", "[explain][masking]") {
    SmallNet model(4, 5);
    const auto x = random_images(2, 29, 25, 1);
    const bagnet::Region region{10, 7, 5, 6};
    auto masked = x;
    bagnet::mask(masked, 0, region);
    bagnet::mask(masked, 1, region);
    const auto before = bagnet::logit_map(model, x), after = bagnet::logit_map(model, masked);
    int touched = 0, untouched = 0;
    for (std::size_t n = 0; n < 2; ++n)
        for (std::size_t i = 0; i < before.shape()[1]; ++i)
            for (std::size_t j = 0; j < before.shape()[2]; ++j) {
                const bagnet::Region patch{int(4 * i), int(4 * j), 9, 9};
                double change = 0;
                for (std::size_t c = 0; c < 4; ++c) change = std::max(change, double(std::abs(after(n, i, j, c) - before(n, i, j, c))));
                if (patch.overlaps(region)) {
                    ++touched;
                    CHECK(change > 1e-4);
                } else {
                    ++untouched;
                    CHECK(change <= 1e-5);
                }
            }
    CHECK(touched > 0);
    CHECK(untouched > touched);
}

TEST_CASE("masking two regions no patch spans changes a BagNet's logits additively", "[explain][masking]") {
    SmallNet model(4, 6);
    const auto x = random_images(3, 40, 30, 2);
    const auto& arch = model.architecture();
    const bagnet::Region a{0, 0, 8, 8}, b{30, 20, 10, 10};
    REQUIRE_FALSE(bagnet::one_patch_spans(arch, 40, 30, a, b));
    const auto distant = bagnet::masking_additivity(model, x, a, b);
    CHECK(distant.scale > 1e-3);                    // masking did something...
    CHECK(distant.interaction <= 1e-5 * std::max(1.0, distant.scale));  // ...and exactly additively

    // Neighbouring regions share patches: then the changes need not add up.
    const bagnet::Region c{8, 0, 4, 8};
    REQUIRE(bagnet::one_patch_spans(arch, 40, 30, a, c));
    CHECK(bagnet::masking_additivity(model, x, a, c).interaction > 1e-4);
}

TEST_CASE("occlusion attribution: masking windows away from a pixel leaves it zero", "[explain][masking]") {
    SmallNet model(4, 7);
    const auto x = random_images(1, 21, 17, 3);
    const auto attribution = bagnet::occlusion(model, x, 2, 5, 4);
    REQUIRE(attribution.shape() == std::vector<std::size_t>{1, 21, 17});
    // By hand for one pixel: the mean logit fall over the windows covering it.
    const auto original = bagnet::logits(model, x);
    double expected = 0;
    int windows = 0;
    for (int y : {0, 4, 8, 12, 16})
        for (int i : {0, 4, 8, 12})
            if (y <= 8 && 8 < y + 5 && i <= 6 && 6 < i + 5) {
                auto masked = x;
                bagnet::mask(masked, 0, {y, i, 5, 5});
                expected += original(0, 2) - bagnet::logits(model, masked)(0, 2);
                ++windows;
            }
    REQUIRE(windows == 2);
    CHECK(attribution(0, 8, 6) == Approx(expected / windows).margin(1e-5));
    REQUIRE_THROWS_WITH(bagnet::occlusion(model, x, 4, 5, 4), bagnet::testing::one_line_mentioning({"class 4"}));
}

TEST_CASE("scrambling moves whole tiles, and a BagNet's evidence moves with them", "[explain][scrambling]") {
    SmallNet model(4, 8);
    const auto x = random_images(2, 36, 36, 4);
    const auto scrambled = bagnet::scramble(x, 12, 9);  // 3 x 3 tiles of 12 pixels, 3 stride-4 steps
    REQUIRE(scrambled.permutation.size() == 9);
    auto sorted_before = std::vector<float>(x.begin(), x.end()), sorted_after = std::vector<float>(scrambled.x.begin(), scrambled.x.end());
    std::sort(sorted_before.begin(), sorted_before.end());
    std::sort(sorted_after.begin(), sorted_after.end());
    CHECK(sorted_before == sorted_after);
    // A 9 x 9 patch at offset (0..3) in steps of 4 inside a 12-pixel tile stays whole: its evidence reappears.
    const auto before = bagnet::logit_map(model, x), after = bagnet::logit_map(model, scrambled.x);
    for (std::size_t b = 0; b < 9; ++b) {
        const std::size_t to = scrambled.permutation[b];
        const std::size_t from_i = b / 3 * 3, from_j = b % 3 * 3, to_i = to / 3 * 3, to_j = to % 3 * 3;
        for (std::size_t c = 0; c < 4; ++c)
            CHECK(after(1, to_i, to_j, c) == Approx(before(1, from_i, from_j, c)).margin(1e-5));
    }
    const auto effect = bagnet::scrambling_effect(model, x, 12, 9);
    CHECK(effect.original.size() == 2);
    CHECK(effect.agreement >= 0.0);
    REQUIRE_THROWS_WITH(bagnet::scramble(x, 40, 1), bagnet::testing::one_line_mentioning({"tile", "40"}));
}
