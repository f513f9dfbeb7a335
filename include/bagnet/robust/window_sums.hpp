#pragma once
// Exact sums of class evidence over rectangles of cells, every class at once, from
// summed-area tables: four lookups per rectangle instead of a loop over its cells.
//
// Certificates are decisions, and a tie or a margin of zero must come out the same
// however a sum is formed. A floating-point prefix sum is rounded, and the difference
// of two rounded prefixes is noise where the exact sum is zero. So the evidence is
// first rounded to a grid, the multiples of a power of two g with 8 x bound <= 2^53 g
// (bound: the largest sum of |evidence| any class can have). Every table entry, every
// rectangle sum and every difference of two such sums is then a multiple of g below
// 2^53 g in magnitude, which a double holds exactly. The rounding moves a cell's
// evidence by at most g / 2, under 2^-51 of the bound.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "bagnet/error.hpp"
#include "bagnet/robust/window.hpp"
#include "bagnet/tensor.hpp"

namespace bagnet {

// A rectangle of cells: rows y .. y + height - 1, columns x .. x + width - 1.
struct CellBlock {
    int y = 0, x = 0, height = 0, width = 0;
    int cells() const { return height * width; }
};

// The overlap of two blocks (empty: zero height or width).
inline CellBlock intersection(const CellBlock& a, const CellBlock& b) {
    const int y0 = std::max(a.y, b.y), x0 = std::max(a.x, b.x);
    const int y1 = std::min(a.y + a.height, b.y + b.height), x1 = std::min(a.x + a.width, b.x + b.width);
    return {y0, x0, std::max(0, y1 - y0), std::max(0, x1 - x0)};
}

// Every position of a window inside a height x width map, row by row.
inline std::vector<CellBlock> window_positions(PatchWindow window, int height, int width) {
    require(window.height >= 1 && window.width >= 1 && window.height <= height && window.width <= width,
            "a " + to_string(window) + " window does not fit in a " + std::to_string(height) + " x " +
                std::to_string(width) + " logit map");
    std::vector<CellBlock> positions;
    for (int y = 0; y + window.height <= height; ++y)
        for (int x = 0; x + window.width <= width; ++x) positions.push_back({y, x, window.height, window.width});
    return positions;
}

class EvidenceSums {
public:
    // One image of an N x H x W x classes logit map, each value turned into evidence by
    // `evidence` (float -> double). `bound` caps any class's sum of |evidence| (what the
    // grid is chosen for); infinity: take it from this image's evidence.
    template <class Evidence>
    EvidenceSums(const Tensor4& map, std::size_t image, Evidence evidence, double bound)
        : height_(int(map.shape()[1])), width_(int(map.shape()[2])), classes_(int(map.shape()[3])) {
        const std::size_t k = std::size_t(classes_), cells = std::size_t(height_) * std::size_t(width_);
        const float* logits = map.data() + image * cells * k;  // cell-major, class fastest
        for (std::size_t i = 0; i < cells * k; ++i)
            if (!std::isfinite(logits[i]))
                throw Error("the logit map holds a non-finite value (image " + std::to_string(image) + ", cell " +
                            std::to_string(i / k / std::size_t(width_)) + ", " +
                            std::to_string(i / k % std::size_t(width_)) + ")");
        if (std::isinf(bound)) {
            std::vector<double> magnitude(k, 0.0);
            for (std::size_t cell = 0; cell < cells; ++cell)
                for (std::size_t c = 0; c < k; ++c) magnitude[c] += std::fabs(evidence(logits[cell * k + c]));
            bound = 0;
            for (double m : magnitude) bound = std::max(bound, m);
        }
        grid_ = grid_for(bound);
        // table_[(y (W + 1) + x) k + c]: the sum over rows < y and columns < x.
        const std::size_t row = std::size_t(width_ + 1) * k;
        table_.assign(std::size_t(height_ + 1) * row, 0.0);
        for (int y = 0; y < height_; ++y)
            for (int x = 0; x < width_; ++x) {
                const float* u = logits + (std::size_t(y) * std::size_t(width_) + std::size_t(x)) * k;
                double* out = &table_[std::size_t(y + 1) * row + std::size_t(x + 1) * k];
                const double* up = out - row;
                const double* left = out - k;
                const double* diagonal = up - k;
                for (std::size_t c = 0; c < k; ++c) out[c] = on_grid(evidence(u[c])) + up[c] + left[c] - diagonal[c];
            }
    }

    int height() const { return height_; }
    int width() const { return width_; }
    int classes() const { return classes_; }
    // The grid every value was rounded to.
    double grid() const { return grid_; }
    // A value rounded to the grid (a clip value, so that bounds use what the cells hold).
    double on_grid(double value) const {
        // value / grid is below 2^51 in magnitude: adding and taking away 1.5 x 2^52 rounds it
        // to the nearest integer (ties to even) as std::nearbyint does, but inline, so the
        // table's loop vectorises.
        constexpr double round = 6755399441055744.0;
        const double steps = value / grid_;
        return std::fabs(steps) < 0x1p51 ? (steps + round - round) * grid_ : std::nearbyint(steps) * grid_;
    }

    double total(int c) const { return table_[table_.size() - std::size_t(classes_) + std::size_t(c)]; }
    std::vector<double> totals() const {
        return std::vector<double>(table_.end() - classes_, table_.end());
    }

    double sum(int c, const CellBlock& b) const {
        if (b.height <= 0 || b.width <= 0) return 0.0;
        const Corners q = corners(b);
        const std::size_t i = std::size_t(c);
        return q.bottom_right[i] - q.top_right[i] - q.bottom_left[i] + q.top_left[i];
    }

    // The sums of every class over one block, into out[0 .. classes).
    void sums(const CellBlock& b, double* out) const {
        const Corners q = corners(b);
        for (std::size_t c = 0; c < std::size_t(classes_); ++c)
            out[c] = q.bottom_right[c] - q.top_right[c] - q.bottom_left[c] + q.top_left[c];
    }

    // The smallest power of two g with 8 x bound <= 2^53 g (at least the smallest double).
    static double grid_for(double bound) {
        require(std::isfinite(bound) && bound >= 0, "the evidence bound must be finite");
        if (bound == 0) return 1.0;
        const double g = std::ldexp(1.0, std::ilogb(bound) + 1 + 3 - std::numeric_limits<double>::digits);
        return std::max(g, std::numeric_limits<double>::denorm_min());
    }

private:
    // The table's entries at a block's four corners, every class from there on.
    struct Corners {
        const double *top_left, *top_right, *bottom_left, *bottom_right;
    };
    Corners corners(const CellBlock& b) const {
        const std::size_t k = std::size_t(classes_), row = std::size_t(width_ + 1) * k;
        const double* top = table_.data() + std::size_t(b.y) * row;
        const double* bottom = table_.data() + std::size_t(b.y + b.height) * row;
        const std::size_t left = std::size_t(b.x) * k, right = std::size_t(b.x + b.width) * k;
        return {top + left, top + right, bottom + left, bottom + right};
    }

    int height_, width_, classes_;
    double grid_ = 1.0;
    std::vector<double> table_;
};

namespace detail {
// Wide enough to hold the product of two doubles exactly (106 bits), so that
// sign(a - t b) below is decided by one correctly rounded subtraction.
#if defined(__SIZEOF_FLOAT128__)
using WideFloat = __float128;
#else
using WideFloat = long double;
static_assert(std::numeric_limits<long double>::digits >= 106, "bagnet/robust needs a 106-bit floating-point type");
#endif
}  // namespace detail

// The sign of a - t b, exactly, for finite doubles.
inline int sign_of_difference(double a, double t, double b) {
    using W = detail::WideFloat;
    const W difference = W(a) - W(t) * W(b);
    return difference > 0 ? 1 : difference < 0 ? -1 : 0;
}

// The lowest index of the largest value.
inline int argmax_lowest(const std::vector<double>& values) {
    int best = 0;
    for (std::size_t c = 1; c < values.size(); ++c)
        if (values[c] > values[std::size_t(best)]) best = int(c);
    return best;
}

}  // namespace bagnet
