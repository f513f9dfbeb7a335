#pragma once
// Clipped BagNet (Zhang et al., "Clipped BagNet: defending against sticker attacks with
// clipped bag-of-features", 2020) over a BagNet's logit map, and its certificate.
//
// Evidence u = tanh(0.05 L - 1), or clip(L, 0, C) when a clip value is given; the
// prediction is the class with the largest mean evidence (lowest index on ties). A cell's
// evidence lies in [-1, 1] (tanh) or [0, C], so a patch moves it by at most the range
// (2, or C). The image is certified for label y when at every window position P, for
// EVERY wrong class c, the sum over the cells outside P of u[., ., y] - u[., ., c]
// exceeds (cells in P) x range: whatever the patch does inside P, y keeps the larger sum.
// (PatchGuard's script checks only the runner-up class.) A window that covers the whole
// map leaves no cell outside it, and nothing is certified.
#include <cmath>
#include <vector>

#include "bagnet/robust/defense.hpp"
#include "bagnet/robust/window_sums.hpp"

namespace bagnet {

namespace detail {

// Evidence is bounded a priori (|u| <= 1 or C), so the grid never depends on the
// evidence and a patch cannot coarsen it.
inline EvidenceSums clipping_evidence(const Tensor4& map, std::size_t image, const ClippingOptions& options) {
    const double cells = double(map.shape()[1]) * double(map.shape()[2]);
    if (options.uses_tanh())
        return EvidenceSums(map, image, [](float logit) { return std::tanh(0.05 * double(logit) - 1.0); }, cells);
    const double clip = options.clip_;
    return EvidenceSums(map, image, [clip](float logit) { return std::min(std::max(double(logit), 0.0), clip); },
                        cells * clip);
}

inline bool clipping_certified(const EvidenceSums& sums, int y, const std::vector<CellBlock>& windows,
                               const ClippingOptions& options) {
    const double range = options.uses_tanh() ? 2.0 : sums.on_grid(options.clip_);
    const std::size_t k = std::size_t(sums.classes());
    std::vector<double> inside(k);
    for (const CellBlock& patch : windows) {
        sums.sums(patch, inside.data());
        const double own = sums.total(y) - inside[std::size_t(y)];
        const double needed = patch.cells() * range;  // exact: a multiple of the grid below its bound
        for (std::size_t c = 0; c < k; ++c)
            if (int(c) != y && !(own - (sums.total(int(c)) - inside[c]) > needed)) return false;
    }
    return true;  // and so the clean prediction is y
}

}  // namespace detail

// The Clipped BagNet's prediction for every image of an N x H x W x classes logit map.
inline std::vector<int> clipped_bagnet(const Tensor4& logit_map, const ClippingOptions& options = {}) {
    options.validate();
    std::vector<int> predictions;
    for (std::size_t n = 0; n < logit_map.shape()[0]; ++n)
        predictions.push_back(argmax_lowest(detail::clipping_evidence(logit_map, n, options).totals()));
    return predictions;
}

}  // namespace bagnet
