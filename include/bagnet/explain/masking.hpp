#pragma once
// Masking image regions, and the two experiments built on it: occlusion
// attribution (how much the class logit falls when a window is masked) and
// additivity (whether masking two regions changes the logits by the sum of the
// two single changes, as it must for a bag of local features).
#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include <xtensor/xview.hpp>

#include "bagnet/explain/geometry.hpp"
#include "bagnet/inference.hpp"
#include "bagnet/instances.hpp"

namespace bagnet {

// A rectangle of pixels: rows [y, y + height), columns [x, x + width).
struct Region {
    int y = 0, x = 0, height = 0, width = 0;
    bool overlaps(const Region& o) const {
        return y < o.y + o.height && o.y < y + height && x < o.x + o.width && o.x < x + width;
    }
};

// Masked pixels take `fill` in every channel; 0 is the data set's mean for
// normalised inputs, the usual neutral value.
inline void mask(Tensor4& x, std::size_t image, const Region& region, float fill = 0.f) {
    const int height = int(x.shape()[2]), width = int(x.shape()[3]);
    for (std::size_t c = 0; c < x.shape()[1]; ++c)
        for (int y = std::max(region.y, 0); y < std::min(region.y + region.height, height); ++y)
            for (int i = std::max(region.x, 0); i < std::min(region.x + region.width, width); ++i)
                x(image, c, std::size_t(y), std::size_t(i)) = fill;
}

// Whether some patch of the logit map (q x q, on the output-stride grid of an
// image of this size) overlaps both regions; if none does, a BagNet's response to
// masking both is the sum of its responses to masking each.
inline bool one_patch_spans(const Architecture& arch, int height, int width, const Region& a, const Region& b) {
    const int q = arch.patch_size, s = output_stride(arch);
    for (int i = 0; i < arch.map_size(height); ++i)
        for (int j = 0; j < arch.map_size(width); ++j) {
            const Region patch{s * i, s * j, q, q};
            if (patch.overlaps(a) && patch.overlaps(b)) return true;
        }
    return false;
}

// Logit changes (masked - original), N x classes each.
struct Additivity {
    Tensor2 change_a, change_b, change_both;
    // max |change_both - change_a - change_b|: 0 for an additive model
    double interaction = 0;
    // max |change_a| + |change_b|, to judge the interaction against
    double scale = 0;
};

template <class Backend>
Additivity masking_additivity(const Model<Backend>& model, const Tensor4& x, const Region& a, const Region& b,
                              float fill = 0.f) {
    const std::size_t n = x.shape()[0];
    // One batch: originals, then masked a, masked b, masked both.
    Tensor4 batch = Tensor4::from_shape({4 * n, x.shape()[1], x.shape()[2], x.shape()[3]});
    for (std::size_t k = 0; k < 4; ++k) xt::view(batch, xt::range(k * n, (k + 1) * n)) = x;
    for (std::size_t i = 0; i < n; ++i) {
        mask(batch, n + i, a, fill);
        mask(batch, 2 * n + i, b, fill);
        mask(batch, 3 * n + i, a, fill);
        mask(batch, 3 * n + i, b, fill);
    }
    const Tensor2 scores = logits(model, batch);
    const auto rows = [&](std::size_t k) { return Tensor2(xt::view(scores, xt::range(k * n, (k + 1) * n)) -
                                                          xt::view(scores, xt::range(0, n))); };
    Additivity result{rows(1), rows(2), rows(3)};
    for (std::size_t i = 0; i < result.change_a.size(); ++i) {
        const double a_change = result.change_a.data()[i], b_change = result.change_b.data()[i];
        result.interaction = std::max(result.interaction, std::abs(result.change_both.data()[i] - a_change - b_change));
        result.scale = std::max(result.scale, std::abs(a_change) + std::abs(b_change));
    }
    return result;
}

// Occlusion attribution: a window x window square slides with `stride`; each
// pixel gets the mean fall of the class logit over the windows that cover it
// (positive: masking it lowers the class). N x H x W, for class_index in every image.
template <class Backend>
Tensor occlusion(const Model<Backend>& model, const Tensor4& x, int class_index, int window, int stride,
                 float fill = 0.f, std::size_t batch_size = 16) {
    const Architecture& arch = model.architecture();
    require(class_index >= 0 && class_index < arch.classes(),
            "class " + std::to_string(class_index) + " is out of range: " + arch.name + " has " +
                std::to_string(arch.classes()) + " classes");
    require(window >= 1 && stride >= 1, "occlusion needs a window and a stride of at least 1 pixel");
    const std::size_t n = x.shape()[0];
    const int height = int(x.shape()[2]), width = int(x.shape()[3]);
    const Tensor2 original = logits(model, x);
    // Window origins cover the whole image, the last one flush with the far edge.
    const auto origins = [&](int extent) {
        std::vector<int> out;
        for (int o = 0; o + window < extent; o += stride) out.push_back(o);
        out.push_back(std::max(extent - window, 0));
        out.erase(std::unique(out.begin(), out.end()), out.end());
        return out;
    };
    std::vector<Region> windows;
    for (int y : origins(height))
        for (int i : origins(width)) windows.push_back({y, i, window, window});

    Tensor fall = xt::zeros<float>({n, std::size_t(height), std::size_t(width)});
    Tensor count = xt::zeros<float>({std::size_t(height), std::size_t(width)});
    for (const Region& r : windows)
        xt::view(count, xt::range(r.y, std::min(r.y + r.height, height)), xt::range(r.x, std::min(r.x + r.width, width))) += 1.f;
    for (std::size_t image = 0; image < n; ++image)
        for (std::size_t first = 0; first < windows.size(); first += batch_size) {
            const std::size_t m = std::min(batch_size, windows.size() - first);
            Tensor4 batch = Tensor4::from_shape({m, x.shape()[1], x.shape()[2], x.shape()[3]});
            for (std::size_t b = 0; b < m; ++b) {
                xt::view(batch, b) = xt::view(x, image);
                mask(batch, b, windows[first + b], fill);
            }
            const Tensor2 masked = logits(model, batch);
            for (std::size_t b = 0; b < m; ++b) {
                const Region& r = windows[first + b];
                xt::view(fall, image, xt::range(r.y, std::min(r.y + r.height, height)),
                         xt::range(r.x, std::min(r.x + r.width, width))) +=
                    original(image, std::size_t(class_index)) - masked(b, std::size_t(class_index));
            }
        }
    return fall / count;
}

// Built once in bagnet::compiled (bagnet/instances.hpp).
#define BAGNET_MASKING_INSTANCES(prefix, Backend)                                                               \
    prefix Additivity masking_additivity<Backend>(const Model<Backend>&, const Tensor4&, const Region&,         \
        const Region&, float);                                                                                  \
    prefix Tensor occlusion<Backend>(const Model<Backend>&, const Tensor4&, int, int, int, float, std::size_t);
BAGNET_EXTERN_INSTANCES(BAGNET_MASKING_INSTANCES)

}  // namespace bagnet
