#pragma once
// Robust masking (PatchGuard, Xiang et al., USENIX Security 2021) over a BagNet's logit
// map, and its certificate against any patch that fits a window.
//
// Evidence u = clip(L, 0, C). Class c's total t[c] is the sum of u[., ., c]; m[c] is its
// largest window sum, the most one patch could have put there. If m[c] > T t[c] the
// window is removed: t[c] -= m[c]. The robust prediction is argmax t (lowest index on ties).
//
// Certificate for label y, for every window position P the patch could cover:
// - wrong class c: whatever the patch puts in P, its masked total is at most
//   (t[c] - sum of u[., ., c] over P) / (1 - T);
// - the true class: zero u[., ., y] inside P (t' is what is left, S'(R) the masked map's
//   sum over a window R). The patch can only add evidence in P, and the defense then
//   removes one window R, so the result is t' - S'(R) for a window R that the patch can
//   make the removed one, or at least t' when nothing is removed. R qualifies when
//   S'(R) + (1 - T) C |R n P| > T t' (the patch fills R's part of P with C), which for
//   C = infinity is any R that overlaps P, or the masked map's best window itself when
//   it alone exceeds T t'. The lower bound is t' minus the largest qualifying S'(R)
//   (or t' when none qualifies), and the patch can reach it.
//   For T = 0 this is PatchGuard's bound (zero P, then mask the best window). For T > 0
//   PatchGuard's bound subtracts only the masked map's best window and only when that
//   window alone exceeds T t'; a patch can then trigger the masking itself and make it
//   remove genuine evidence next to P, so that bound is not sound (tests/test_robust_soundness.cpp
//   builds such a flip).
// The image is certified when its undefended clipped prediction (argmax t) is y and at
// every P the lower bound of y beats every wrong class's upper bound, ties going to the
// lower class index.
//
// All sums are exact (robust/window_sums.hpp); comparisons with T are decided exactly.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "bagnet/robust/defense.hpp"
#include "bagnet/robust/window_sums.hpp"

namespace bagnet {

namespace detail {

// No class can sum to more than cells x C, whatever a patch does: with a ceiling the grid
// then does not depend on the evidence, so an attacker cannot coarsen it. Infinity when
// there is no ceiling, or when cells x C overflows (float32 evidence never gets near it).
inline double masking_bound(const Tensor4& map, const MaskingOptions& options) {
    return double(map.shape()[1]) * double(map.shape()[2]) * options.clip_;
}

inline EvidenceSums masking_evidence(const Tensor4& map, std::size_t image, const MaskingOptions& options) {
    const double clip = options.clip_;
    return EvidenceSums(map, image, [clip](float logit) { return std::min(std::max(double(logit), 0.0), clip); },
                        masking_bound(map, options));
}

// Every class's total after masking.
inline std::vector<double> masked_totals(const EvidenceSums& sums, const std::vector<CellBlock>& windows,
                                         double threshold) {
    const std::size_t k = std::size_t(sums.classes());
    std::vector<double> best(k, 0.0), window(k);
    for (const CellBlock& w : windows) {
        sums.sums(w, window.data());
        for (std::size_t c = 0; c < k; ++c) best[c] = std::max(best[c], window[c]);
    }
    std::vector<double> totals(k);
    for (std::size_t c = 0; c < k; ++c) {
        const double t = sums.total(int(c));
        totals[c] = sign_of_difference(best[c], threshold, t) > 0 ? t - best[c] : t;
    }
    return totals;
}

// The lower bound of the true class's masked total when a patch controls window P.
// `clip`: C on the grid, or infinity for none.
inline double masking_lower_bound(const EvidenceSums& sums, int y, const CellBlock& patch,
                                  const std::vector<CellBlock>& windows, const std::vector<double>& window_sums,
                                  double threshold, double clip) {
    const bool ceiling = std::isfinite(clip);
    const double rest = sums.total(y) - sums.sum(y, patch);  // t'
    double removable = 0;
    for (std::size_t r = 0; r < windows.size(); ++r) {
        const CellBlock overlap = intersection(windows[r], patch);
        const double masked = window_sums[r] - sums.sum(y, overlap);  // S'(R)
        if (masked <= removable) continue;
        bool qualifies;
        if (ceiling) {
            const double filled = clip * overlap.cells();  // exact: a multiple of the grid below its bound
            qualifies = sign_of_difference(masked + filled, threshold, rest + filled) > 0;
        } else {
            qualifies = overlap.cells() > 0 || sign_of_difference(masked, threshold, rest) > 0;
        }
        if (qualifies) removable = masked;
    }
    return rest - removable;
}

// `bound`: masking_bound of the map the sums were made from.
inline bool masking_certified(const EvidenceSums& sums, int y, const std::vector<CellBlock>& windows,
                              const MaskingOptions& options, double bound) {
    if (argmax_lowest(sums.totals()) != y) return false;
    const std::size_t k = std::size_t(sums.classes());
    if (k == 1) return true;  // no wrong class to beat
    const double threshold = options.threshold_;
    const double clip = std::isfinite(bound) ? sums.on_grid(options.clip_) : std::numeric_limits<double>::infinity();
    std::vector<double> window_sums(windows.size());
    for (std::size_t r = 0; r < windows.size(); ++r) window_sums[r] = sums.sum(y, windows[r]);
    std::vector<double> inside(k);
    for (const CellBlock& patch : windows) {
        sums.sums(patch, inside.data());
        // The wrong class with the largest upper bound; a tie with a lower index than y loses.
        double worst = -std::numeric_limits<double>::infinity();
        bool lower_index_ties = false;
        for (std::size_t c = 0; c < k; ++c) {
            if (int(c) == y) continue;
            const double outside = sums.total(int(c)) - inside[c];
            if (outside > worst) {
                worst = outside;
                lower_index_ties = int(c) < y;
            } else if (outside == worst && int(c) < y) {
                lower_index_ties = true;
            }
        }
        const double lower = masking_lower_bound(sums, y, patch, windows, window_sums, threshold, clip);
        // lower > worst / (1 - T)  <=>  (lower - worst) - T lower > 0; lower - worst is exact.
        const int beats = sign_of_difference(lower - worst, threshold, lower);
        if (beats < 0 || (beats == 0 && lower_index_ties)) return false;
    }
    return true;
}

}  // namespace detail

// The robust prediction of every image of an N x H x W x classes logit map.
inline std::vector<int> robust_masking(const Tensor4& logit_map, PatchWindow window,
                                       const MaskingOptions& options = {}) {
    options.validate();
    const auto windows = window_positions(window, int(logit_map.shape()[1]), int(logit_map.shape()[2]));
    std::vector<int> predictions;
    for (std::size_t n = 0; n < logit_map.shape()[0]; ++n)
        predictions.push_back(argmax_lowest(
            detail::masked_totals(detail::masking_evidence(logit_map, n, options), windows, options.threshold_)));
    return predictions;
}

}  // namespace bagnet
