// The patch certificates against brute force on tiny logit maps: an adversary that sets the
// evidence inside a window to extreme (and intermediate) values never flips a certified image,
// the true class's lower bound is exactly what such an adversary reaches, and the defenses
// themselves follow their definitions (a plain loop implementation here).
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "bagnet/bagnet.hpp"
#include "bagnet/robust.hpp"
#include "error_matchers.hpp"
#include "random_tensors.hpp"

namespace {

using bagnet::CellBlock;
using bagnet::PatchWindow;
using bagnet::Tensor4;
using bagnet::testing::one_line_mentioning;

constexpr double infinity = std::numeric_limits<double>::infinity();

// A 1 x H x W x K map of multiples of 1/8 in [-1, 2] plus a per-class offset: every sum the
// tests form is exact in double, so the plain loops below decide exactly too.
Tensor4 dyadic_map(int h, int w, int k, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> eighths(-8, 16), offset(0, 8);
    Tensor4 map = xt::zeros<float>({std::size_t(1), std::size_t(h), std::size_t(w), std::size_t(k)});
    for (int c = 0; c < k; ++c) {
        const int shift = offset(rng);
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) map(0, y, x, c) = float(eighths(rng) + shift) / 8.f;
    }
    return map;
}

// One class's plane of evidence, row-major.
using Plane = std::vector<double>;

Plane plane_of(const Tensor4& map, int c, const std::function<double(float)>& evidence) {
    Plane u;
    for (std::size_t y = 0; y < map.shape()[1]; ++y)
        for (std::size_t x = 0; x < map.shape()[2]; ++x) u.push_back(evidence(map(0, y, x, std::size_t(c))));
    return u;
}

double block_sum(const Plane& u, int width, const CellBlock& b) {
    double s = 0;
    for (int y = b.y; y < b.y + b.height; ++y)
        for (int x = b.x; x < b.x + b.width; ++x) s += u[std::size_t(y * width + x)];
    return s;
}

// Robust masking of one class, by its definition, with plain loops.
double masked_total(const Plane& u, int height, int width, PatchWindow window, double threshold) {
    double total = 0, best = 0;
    for (double v : u) total += v;
    for (int y = 0; y + window.height <= height; ++y)
        for (int x = 0; x + window.width <= width; ++x)
            best = std::max(best, block_sum(u, width, {y, x, window.height, window.width}));
    return total > 0 && best / total > threshold ? total - best : total;
}

int argmax_lowest(const std::vector<double>& v) {
    int best = 0;
    for (std::size_t c = 1; c < v.size(); ++c)
        if (v[c] > v[std::size_t(best)]) best = int(c);
    return best;
}

// Every way to fill the cells of `patch` with values from `choices`, applied to u.
void for_each_filling(Plane u, int width, const CellBlock& patch, const std::vector<double>& choices,
                      const std::function<void(const Plane&)>& visit) {
    std::vector<std::size_t> cells;
    for (int y = patch.y; y < patch.y + patch.height; ++y)
        for (int x = patch.x; x < patch.x + patch.width; ++x) cells.push_back(std::size_t(y * width + x));
    std::vector<std::size_t> digit(cells.size(), 0);
    while (true) {
        for (std::size_t i = 0; i < cells.size(); ++i) u[cells[i]] = choices[digit[i]];
        visit(u);
        std::size_t i = 0;
        while (i < digit.size() && ++digit[i] == choices.size()) digit[i++] = 0;
        if (i == digit.size()) return;
    }
}

Tensor4 map_of(const std::vector<Plane>& planes, int height, int width) {
    Tensor4 map = xt::zeros<float>({std::size_t(1), std::size_t(height), std::size_t(width), planes.size()});
    for (std::size_t c = 0; c < planes.size(); ++c)
        for (int y = 0; y < height; ++y)
            for (int x = 0; x < width; ++x) map(0, y, x, c) = float(planes[c][std::size_t(y * width + x)]);
    return map;
}

struct MaskingCase {
    double threshold, clip;
};

}  // namespace

TEST_CASE("a patch touches at most ceil((p + q - 1) / s) cells per axis", "[robust]") {
    for (int q : {3, 5, 9})
        for (int s : {1, 2, 4})
            for (int map : {1, 3, 8})
                for (int p = 1; p <= s * (map - 1) + q; ++p) {
                    const int image = s * (map - 1) + q;
                    int most = 0;  // over every placement of the patch, the cells whose patch it overlaps
                    for (int a = 0; a + p <= image; ++a) {
                        int touched = 0;
                        for (int i = 0; i < map; ++i) touched += s * i <= a + p - 1 && a <= s * i + q - 1;
                        most = std::max(most, touched);
                    }
                    INFO("q " << q << " s " << s << " map " << map << " p " << p);
                    CHECK(bagnet::cells_touched(p, q, s, map) == most);
                }
    const auto fine9 = bagnet::architecture_by_name("fashionfine9");
    CHECK(bagnet::patch_window(fine9, bagnet::PatchSize::square(4), 28, 28).height == 6);
    const PatchWindow skewed = bagnet::patch_window(fine9, {6, 2}, 28, 36);
    CHECK(skewed.height == 7);
    CHECK(skewed.width == 5);
    CHECK(bagnet::patch_window(fine9, bagnet::PatchSize::square(28), 28, 28).cells() == 100);
    REQUIRE_THROWS_WITH(bagnet::patch_window(fine9, bagnet::PatchSize::square(0), 28, 28),
                        one_line_mentioning({"at least 1 x 1", "0 x 0"}));
    REQUIRE_THROWS_WITH(bagnet::patch_window(fine9, {29, 3}, 28, 28), one_line_mentioning({"29 x 3", "28 x 28"}));
}

TEST_CASE("window sums are exact, zero where the evidence is zero, next to huge and tiny values", "[robust]") {
    Tensor4 map = xt::zeros<float>({1, 4, 5, 2});
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<float> unit(0.f, 1.f);
    for (std::size_t y = 0; y < 4; ++y)
        for (std::size_t x = 0; x < 5; ++x) {
            const bool zero = y >= 1 && y <= 2 && x >= 2;  // a zero block surrounded by evidence
            map(0, y, x, 0) = zero ? 0.f : (x % 2 ? 3e7f : 3e-7f) * (1 + unit(rng));
            map(0, y, x, 1) = float(int(x + 5 * y)) / 4.f;
        }
    const bagnet::EvidenceSums sums(map, 0, [](float v) { return double(v); }, infinity);
    CHECK(sums.sum(0, {1, 2, 2, 3}) == 0.0);
    CHECK(sums.sum(0, {1, 3, 2, 1}) == 0.0);
    // The quarter-integers of class 1 are on the grid: every block sums exactly.
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 5; ++x)
            for (int h = 1; y + h <= 4; ++h)
                for (int w = 1; x + w <= 5; ++w) {
                    double expected = 0;
                    for (int i = y; i < y + h; ++i)
                        for (int j = x; j < x + w; ++j) expected += map(0, i, j, 1);
                    CHECK(sums.sum(1, {y, x, h, w}) == expected);
                }
    CHECK(sums.total(1) == 47.5);
    // Exactly: the double 0.1 times 3 lies strictly between 0.3 and its rounding 0.1 * 3.0.
    CHECK(bagnet::sign_of_difference(0.1 * 3.0, 0.1, 3.0) == 1);
    CHECK(bagnet::sign_of_difference(0.3, 0.1, 3.0) == -1);
    CHECK(bagnet::sign_of_difference(0.75, 0.25, 3.0) == 0);
}

TEST_CASE("robust masking and clipping follow their definitions", "[robust]") {
    const std::vector<MaskingCase> cases{{0, infinity}, {0.25, infinity}, {0.5, 1.5}, {0.375, 0.75}};
    int checked = 0;
    for (std::uint64_t seed = 0; seed < 12; ++seed) {
        const int h = 2 + int(seed % 4), w = 3 + int(seed % 3), k = 3 + int(seed % 2);
        const Tensor4 map = dyadic_map(h, w, k, seed);
        for (const PatchWindow window : {PatchWindow{1, 1}, PatchWindow{2, 1}, PatchWindow{2, 3}, PatchWindow{h, w}}) {
            if (window.height > h || window.width > w) continue;
            for (const MaskingCase& m : cases) {
                std::vector<double> totals;
                for (int c = 0; c < k; ++c)
                    totals.push_back(masked_total(plane_of(map, c, [&](float v) { return std::clamp(double(v), 0.0, m.clip); }),
                                                  h, w, window, m.threshold));
                CHECK(bagnet::robust_masking(map, window, bagnet::MaskingOptions().threshold(m.threshold).clip(m.clip))[0] ==
                      argmax_lowest(totals));
                ++checked;
            }
            std::vector<double> clipped;
            for (int c = 0; c < k; ++c) {
                double total = 0;
                for (double v : plane_of(map, c, [](float v) { return std::clamp(double(v), 0.0, 1.25); })) total += v;
                clipped.push_back(total);
            }
            CHECK(bagnet::clipped_bagnet(map, bagnet::ClippingOptions().clip(1.25))[0] == argmax_lowest(clipped));
        }
    }
    CHECK(checked > 100);
}

TEST_CASE("masking certificates hold against every filling of every window, and the true class's bound is reached",
          "[robust]") {
    const std::vector<MaskingCase> cases{{0, infinity}, {0.25, infinity}, {0.5, infinity}, {0, 2}, {0.25, 2}, {0.5, 2}};
    int certified = 0, uncertified = 0, flipped = 0;
    for (std::uint64_t seed = 0; seed < 30; ++seed) {
        const int h = seed % 2 ? 2 : 3, w = seed % 3 ? 4 : 2, k = 3;
        const Tensor4 map = dyadic_map(h, w, k, 100 + seed);
        for (const PatchWindow window : {PatchWindow{1, 1}, PatchWindow{1, 2}, PatchWindow{2, 1}, PatchWindow{2, 2}}) {
            if (window.height > h || window.width > w) continue;
            const auto positions = bagnet::window_positions(window, h, w);
            for (const MaskingCase& m : cases) {
                const bagnet::MaskingOptions options = bagnet::MaskingOptions().threshold(m.threshold).clip(m.clip);
                const auto evidence = [&](float v) { return std::clamp(double(v), 0.0, m.clip); };
                std::vector<Plane> u;
                std::vector<double> totals;
                for (int c = 0; c < k; ++c) {
                    u.push_back(plane_of(map, c, evidence));
                    totals.push_back(block_sum(u.back(), w, {0, 0, h, w}));
                }
                const int y = argmax_lowest(totals);  // certificates need the clipped prediction to be the label
                const bool is_certified = bagnet::certify(map, {y}, window, options)[0].certified;
                (is_certified ? certified : uncertified) += 1;
                // Extreme and intermediate values; "infinity" is a value far above the evidence.
                const std::vector<double> choices =
                    std::isinf(m.clip) ? std::vector<double>{0, 0.5, 1, 2, 4, 1 << 20} : std::vector<double>{0, 0.5, 1, 1.5, 2};
                const bagnet::EvidenceSums sums = bagnet::detail::masking_evidence(map, 0, options);
                std::vector<double> window_sums;
                for (const CellBlock& r : positions) window_sums.push_back(sums.sum(y, r));
                bool any_flip = false;
                for (const CellBlock& patch : positions) {
                    INFO("seed " << seed << " window " << window.height << "x" << window.width << " T " << m.threshold
                                  << " C " << m.clip << " patch at " << patch.y << "," << patch.x);
                    // Masked totals depend on their own class only: the worst case is found class by class.
                    double lowest = infinity;
                    Plane worst_y;
                    for_each_filling(u[std::size_t(y)], w, patch, choices, [&](const Plane& v) {
                        const double t = masked_total(v, h, w, window, m.threshold);
                        if (t < lowest) lowest = t, worst_y = v;
                    });
                    const double bound = bagnet::detail::masking_lower_bound(
                        sums, y, patch, positions, window_sums, m.threshold,
                        std::isinf(m.clip) ? infinity : sums.on_grid(m.clip));
                    CHECK(lowest == bound);  // sound, and reached by a filling
                    std::vector<Plane> attacked{u};
                    attacked[std::size_t(y)] = worst_y;
                    std::vector<double> final_totals(static_cast<std::size_t>(k), 0.0);
                    final_totals[std::size_t(y)] = lowest;
                    for (int c = 0; c < k; ++c) {
                        if (c == y) continue;
                        double highest = -infinity;
                        for_each_filling(u[std::size_t(c)], w, patch, choices, [&](const Plane& v) {
                            const double t = masked_total(v, h, w, window, m.threshold);
                            if (t > highest) highest = t, attacked[std::size_t(c)] = v;
                        });
                        // The wrong class's bound (t - sum over P) / (1 - T) holds.
                        CHECK(highest * (1 - m.threshold) <= totals[std::size_t(c)] - block_sum(u[std::size_t(c)], w, patch));
                        final_totals[std::size_t(c)] = highest;
                    }
                    // The defense itself on the worst map found.
                    const int attacked_prediction = bagnet::robust_masking(map_of(attacked, h, w), window, options)[0];
                    CHECK(attacked_prediction == argmax_lowest(final_totals));
                    if (is_certified) CHECK(attacked_prediction == y);
                    any_flip = any_flip || attacked_prediction != y;
                }
                flipped += any_flip;
            }
        }
    }
    CHECK(certified > 20);
    CHECK(uncertified > 40);
    CHECK(flipped > 20);  // the adversary has teeth: it flips uncertified images
}

TEST_CASE("PatchGuard's true-class bound is not sound for T > 0: a patch can make the masking remove genuine evidence",
          "[robust]") {
    // One row of 7 cells, windows of 1 x 2, T = 1/2, two classes (found by a brute-force search).
    const PatchWindow window{1, 2};
    const double threshold = 0.5;
    const Plane y_cells{2.75, 1.75, 2, 1.75, 3, 2.25, 2.5}, c_cells{1.75, 0.5, 1, 1, 0.25, 1, 0};
    const Tensor4 clean = map_of({y_cells, c_cells}, 1, 7);
    // PatchGuard's certificate: at every position P, zero the true class inside P and mask
    // it; that beats the wrong class's (t - sum over P) / (1 - T) everywhere.
    for (const CellBlock& patch : bagnet::window_positions(window, 1, 7)) {
        Plane zeroed = y_cells;
        for (int x = patch.x; x < patch.x + patch.width; ++x) zeroed[std::size_t(x)] = 0;
        const double patchguard_lower = masked_total(zeroed, 1, 7, window, threshold);
        const double wrong_upper = (block_sum(c_cells, 7, {0, 0, 1, 7}) - block_sum(c_cells, 7, patch)) / (1 - threshold);
        INFO("patch at " << patch.x);
        REQUIRE(patchguard_lower > wrong_upper);  // it would certify
    }
    const auto options = bagnet::MaskingOptions().threshold(threshold);
    REQUIRE(bagnet::robust_masking(clean, window, options)[0] == 0);
    // A patch over cells 5-6: 6 in cell 5 of the true class makes window {4, 5} (9 of 17.25)
    // the masked one, genuine evidence of cell 4 with it (17.25 - 9 = 8.25); 4 in cell 6 of
    // the wrong class stays under T (4 of 8.5), unmasked (8.5).
    const Tensor4 attacked = map_of({{2.75, 1.75, 2, 1.75, 3, 6, 0}, {1.75, 0.5, 1, 1, 0.25, 0, 4}}, 1, 7);
    CHECK(bagnet::robust_masking(attacked, window, options)[0] == 1);
    CHECK_FALSE(bagnet::certify(clean, {0}, window, options)[0].certified);
}

TEST_CASE("clipping certificates: certified exactly when no extreme filling of a window flips the image", "[robust]") {
    int certified = 0, uncertified = 0;
    for (std::uint64_t seed = 0; seed < 40; ++seed) {
        const int h = 3 + int(seed % 2), w = 4 + int(seed % 3), k = 4;
        // Irrational-looking values: exact ties have probability zero.
        Tensor4 map = bagnet::testing::random_input(1, std::size_t(h), std::size_t(w), std::size_t(k), 200 + seed) * 2.f;
        for (std::size_t c = 0; c < std::size_t(k); ++c) xt::view(map, 0, xt::all(), xt::all(), c) += float(c) * 0.4f;
        for (const bagnet::ClippingOptions options : {bagnet::ClippingOptions(), bagnet::ClippingOptions().clip(1.5)}) {
            const bool tanh = options.uses_tanh();
            // Logits that give the extreme evidence exactly: tanh(0.05 L - 1) = -1 or 1, clip(L, 0, C) = 0 or C.
            const float low = tanh ? -1e4f : -1.f, high = tanh ? 1e4f : 1.5f;
            for (const PatchWindow window : {PatchWindow{1, 1}, PatchWindow{2, 2}, PatchWindow{1, 3}, PatchWindow{h, w}}) {
                const int y = bagnet::clipped_bagnet(map, options)[0];
                const bool is_certified = bagnet::certify(map, {y}, window, options)[0].certified;
                (is_certified ? certified : uncertified) += 1;
                bool flipped = false;
                for (const CellBlock& patch : bagnet::window_positions(window, h, w))
                    for (int c = 0; c < k; ++c) {
                        if (c == y) continue;
                        Tensor4 attacked = map;
                        for (int i = patch.y; i < patch.y + patch.height; ++i)
                            for (int j = patch.x; j < patch.x + patch.width; ++j) {
                                attacked(0, i, j, y) = low;
                                attacked(0, i, j, c) = high;
                            }
                        flipped = flipped || bagnet::clipped_bagnet(attacked, options)[0] != y;
                    }
                INFO("seed " << seed << " tanh " << tanh << " window " << window.height << "x" << window.width);
                CHECK(is_certified == !flipped);
                if (window.height == h && window.width == w) CHECK_FALSE(is_certified);  // nothing outside the window
            }
        }
    }
    CHECK(certified > 15);
    CHECK(uncertified > 15);
}

TEST_CASE("a window covering the whole map: masking predicts class 0 for every image, clipping certifies nothing",
          "[robust]") {
    int zeros = 0, others = 0;
    for (std::uint64_t seed = 0; seed < 8; ++seed) {
        const Tensor4 map = dyadic_map(3, 4, 3, 300 + seed);
        std::vector<double> totals;
        for (int c = 0; c < 3; ++c) totals.push_back(block_sum(plane_of(map, c, [](float v) { return std::max(double(v), 0.0); }), 4, {0, 0, 3, 4}));
        const int clean = argmax_lowest(totals);
        (clean == 0 ? zeros : others) += 1;
        for (double threshold : {0.0, 0.5}) {
            const auto options = bagnet::MaskingOptions().threshold(threshold);
            CHECK(bagnet::robust_masking(map, {3, 4}, options)[0] == 0);
            // Every masked total is zero and ties go to class 0: class-0 images are certified
            // (when their clipped prediction is class 0), no other.
            CHECK(bagnet::certify(map, {0}, {3, 4}, options)[0].certified == (clean == 0));
            if (clean != 0) CHECK_FALSE(bagnet::certify(map, {clean}, {3, 4}, options)[0].certified);
        }
        CHECK_FALSE(bagnet::certify(map, {bagnet::clipped_bagnet(map)[0]}, {3, 4}, bagnet::ClippingOptions())[0].certified);
    }
    CHECK(zeros > 0);
    CHECK(others > 0);
}

TEST_CASE("bad settings and labels are one-line errors", "[robust]") {
    const Tensor4 map = dyadic_map(3, 3, 2, 1);
    const PatchWindow window{2, 2};
    REQUIRE_THROWS_WITH(bagnet::robust_masking(map, window, bagnet::MaskingOptions().threshold(1)),
                        one_line_mentioning({"threshold", "[0, 1)", "got 1"}));
    REQUIRE_THROWS_WITH(bagnet::robust_masking(map, window, bagnet::MaskingOptions().threshold(-0.1)),
                        one_line_mentioning({"threshold", "-0.1"}));
    REQUIRE_THROWS_WITH(bagnet::robust_masking(map, window, bagnet::MaskingOptions().threshold(std::nan(""))),
                        one_line_mentioning({"threshold", "nan"}));
    REQUIRE_THROWS_WITH(bagnet::robust_masking(map, window, bagnet::MaskingOptions().clip(0)),
                        one_line_mentioning({"clip value must be positive", "got 0"}));
    REQUIRE_THROWS_WITH(bagnet::clipped_bagnet(map, bagnet::ClippingOptions().clip(-2)),
                        one_line_mentioning({"clip value must be positive", "-2"}));
    REQUIRE_THROWS_WITH(bagnet::certify(map, {2}, window, bagnet::MaskingOptions()),
                        one_line_mentioning({"label 2 of image 0", "2 classes"}));
    REQUIRE_THROWS_WITH(bagnet::certify(map, {0, 1}, window, bagnet::ClippingOptions()),
                        one_line_mentioning({"2 labels for 1 images"}));
    REQUIRE_THROWS_WITH(bagnet::certify(map, {0}, {4, 1}, bagnet::ClippingOptions()),
                        one_line_mentioning({"4 x 1 window", "3 x 3"}));
    Tensor4 broken = map;
    broken(0, 1, 1, 0) = std::numeric_limits<float>::quiet_NaN();
    REQUIRE_THROWS_WITH(bagnet::robust_masking(broken, window), one_line_mentioning({"non-finite", "cell 1, 1"}));
}
