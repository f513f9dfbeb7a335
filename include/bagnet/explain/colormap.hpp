#pragma once
// The display convention of the BagNet paper's heatmaps: a diverging colour map
// (blue negative, white zero, red positive) with symmetric limits clipped at the
// 99th percentile of |evidence|, so that a few extreme patches do not wash out
// the rest of the map.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "bagnet/error.hpp"

namespace bagnet {

struct Rgb {
    std::uint8_t r = 0, g = 0, b = 0;
    bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
};

// (1 - t) a + t b, per channel.
inline Rgb mix(Rgb a, Rgb b, float t) {
    const auto lerp = [t](std::uint8_t x, std::uint8_t y) {
        return std::uint8_t(std::lround((1.f - t) * float(x) + t * float(y)));
    };
    return {lerp(a.r, b.r), lerp(a.g, b.g), lerp(a.b, b.b)};
}

// matplotlib's RdBu_r (ColorBrewer's 11-class RdBu, reversed), the reference's
// colour map, interpolated linearly; value / limit is clipped to [-1, 1].
inline Rgb diverging_colour(float value, float limit) {
    static constexpr std::array<Rgb, 11> anchors{{{0x05, 0x30, 0x61}, {0x21, 0x66, 0xac}, {0x43, 0x93, 0xc3},
                                                  {0x92, 0xc5, 0xde}, {0xd1, 0xe5, 0xf0}, {0xf7, 0xf7, 0xf7},
                                                  {0xfd, 0xdb, 0xc7}, {0xf4, 0xa5, 0x82}, {0xd6, 0x60, 0x4d},
                                                  {0xb2, 0x18, 0x2b}, {0x67, 0x00, 0x1f}}};
    const float t = limit > 0 && std::isfinite(value) ? std::clamp(value / limit, -1.f, 1.f) : 0.f;
    const float position = (t + 1.f) * 0.5f * float(anchors.size() - 1);
    const auto lower = std::min(std::size_t(position), anchors.size() - 2);
    return mix(anchors[lower], anchors[lower + 1], position - float(lower));
}

// The `percentile` (0..100) of |values|, linearly interpolated as numpy's
// np.percentile does. Never 0, so that it can divide: an all-zero map gets 1.
inline float symmetric_limit(const std::vector<float>& values, double percentile = 99.0) {
    require(!values.empty(), "cannot choose colour limits for an empty heatmap");
    require(percentile > 0 && percentile <= 100, "the colour-limit percentile must be in (0, 100]");
    std::vector<float> magnitudes(values.size());
    std::transform(values.begin(), values.end(), magnitudes.begin(), [](float v) { return std::abs(v); });
    const double rank = percentile / 100.0 * double(magnitudes.size() - 1);
    const auto below = std::size_t(rank);
    std::nth_element(magnitudes.begin(), magnitudes.begin() + std::ptrdiff_t(below), magnitudes.end());
    const float low = magnitudes[below];
    float limit = low;
    if (below + 1 < magnitudes.size()) {
        const float high = *std::min_element(magnitudes.begin() + std::ptrdiff_t(below) + 1, magnitudes.end());
        limit = low + float(rank - double(below)) * (high - low);
    }
    return limit > 0 && std::isfinite(limit) ? limit : 1.f;
}

}  // namespace bagnet
