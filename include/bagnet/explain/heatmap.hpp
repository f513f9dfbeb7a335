#pragma once
// Class-evidence heatmaps: the coarse map a single pass gives, and the exact
// full-resolution map of the per-patch definition.
//
// Per-patch definition (the reference): pad the image with (q-1)/2 zeros on every
// side; pixel (y, x) gets the class logit of the network applied to the q x q
// patch centred there. Running the network once per pixel is wasteful: a BagNet is
// exactly patch-local, so its a-trous version (layers/a_trous.hpp: strides removed,
// later kernels dilated) computes every patch's evidence in one pass over the padded
// image, sharing the work of overlapping patches at every stage. Backends without
// it run s^2 shifted passes of the network itself (s: the output stride), each
// giving the patches on one s x s grid; both equal the per-patch definition.
#include <algorithm>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <numeric>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <xtensor/xmath.hpp>

#include "bagnet/explain/dense_evaluation.hpp"
#include "bagnet/explain/geometry.hpp"
#include "bagnet/inference.hpp"
#include "bagnet/instances.hpp"

namespace bagnet {

// Which classes a heatmap shows: one class or a list (the same for every image),
// or each image's k highest-scoring classes (k = 1: the predicted class).
class ClassChoice {
public:
    ClassChoice(int class_index) : classes_{class_index} {}  // NOLINT: implicit, so heatmap(model, x, 3) reads well
    ClassChoice(std::vector<int> classes) : classes_(std::move(classes)) {}  // NOLINT
    ClassChoice(std::initializer_list<int> classes) : classes_(classes) {}
    static ClassChoice top(int k) {
        ClassChoice choice{std::vector<int>{}};
        choice.top_ = k;
        return choice;
    }

    bool needs_logits() const { return top_ > 0; }

    // The classes of every image (rows of `logits`, only read for top()); throws a
    // one-line Error for classes out of range or k larger than the class count.
    std::vector<std::vector<int>> resolve(const Architecture& arch, const Tensor2& logits, std::size_t images) const {
        const int count = arch.classes();
        if (top_ > 0) {
            require(top_ <= count, "cannot show the top " + std::to_string(top_) + " classes: " + arch.name +
                                       " has only " + std::to_string(count));
            std::vector<std::vector<int>> chosen(images);
            for (std::size_t n = 0; n < images; ++n) chosen[n] = top_classes(logits, n, top_);
            return chosen;
        }
        require(!classes_.empty(), "no class given for the heatmap");
        for (int c : classes_)
            require(c >= 0 && c < count, "class " + std::to_string(c) + " is out of range: " + arch.name + " has " +
                                             std::to_string(count) + " classes (0.." + std::to_string(count - 1) + ")");
        return std::vector<std::vector<int>>(images, classes_);
    }

private:
    std::vector<int> classes_;
    int top_ = 0;
};

// Evidence maps of several classes for a batch of images.
struct Heatmaps {
    Tensor4 evidence;                       // N x K x H x W (dense) or N x K x H' x W' (coarse)
    std::vector<std::vector<int>> classes;  // classes[n][k] is the class of evidence(n, k)
};

// Called after each pass of the dense heatmap with the work done and in total (bands
// of images, or shifted crops where the backend runs shifted passes).
using HeatmapProgress = std::function<void(std::size_t done, std::size_t total)>;

namespace detail {

template <class Backend>
std::vector<std::vector<int>> resolve_classes(const Model<Backend>& model, const ImagesView& x, const ClassChoice& choice) {
    const Tensor2 scores = choice.needs_logits() ? logits(model, x) : Tensor2{};
    return choice.resolve(model.architecture(), scores, x.shape()[0]);
}

// Picks the chosen classes out of an N x H' x W' x classes logit map.
inline Tensor4 select_classes(const Tensor4& map, const std::vector<std::vector<int>>& classes) {
    const std::size_t n = map.shape()[0], h = map.shape()[1], w = map.shape()[2];
    const std::size_t k = classes.front().size();
    Tensor4 out = Tensor4::from_shape({n, k, h, w});
    for (std::size_t b = 0; b < n; ++b)
        for (std::size_t c = 0; c < k; ++c)
            for (std::size_t i = 0; i < h; ++i)
                for (std::size_t j = 0; j < w; ++j) out(b, c, i, j) = map(b, i, j, std::size_t(classes[b][c]));
    return out;
}

// Whether a backend's executor cuts crops from images itself (on its device).
template <class E, class = void>
struct cuts_crops_itself : std::false_type {};
template <class E>
struct cuts_crops_itself<E, std::void_t<decltype(&E::crop_logit_maps)>> : std::true_type {};

// Logit maps (count x H' x W' x classes.size()) of crops of `images` (crops: image,
// row, column triples; each crop_h x crop_w), for the given classes only. A GPU
// executor cuts the crops on the device, so only the images cross the bus; the
// others get the crops cut here.
template <class Backend>
Tensor4 crop_logit_maps(const Model<Backend>& model, const Tensor4& images, const std::vector<int>& crops,
                        std::size_t crop_h, std::size_t crop_w, const std::vector<int>& classes) {
    if constexpr (cuts_crops_itself<Executor<Backend>>::value) {
        return model.executor().crop_logit_maps(model.architecture(), model.parameters(), images, crops, int(crop_h),
                                                int(crop_w), classes, model.precision());
    } else {
        const std::size_t count = crops.size() / 3, channels = images.shape()[1];
        Tensor4 cut = Tensor4::from_shape({count, channels, crop_h, crop_w});
        for (std::size_t b = 0; b < count; ++b)
            for (std::size_t ch = 0; ch < channels; ++ch)
                for (std::size_t y = 0; y < crop_h; ++y)
                    std::copy_n(&images(std::size_t(crops[3 * b]), ch, std::size_t(crops[3 * b + 1]) + y,
                                        std::size_t(crops[3 * b + 2])),
                                crop_w, &cut(b, ch, y, 0));
        const Tensor4 map = logit_map(model, cut);
        Tensor4 chosen = Tensor4::from_shape({count, map.shape()[1], map.shape()[2], classes.size()});
        for (std::size_t b = 0; b < count; ++b)
            for (std::size_t i = 0; i < map.shape()[1]; ++i)
                for (std::size_t j = 0; j < map.shape()[2]; ++j)
                    for (std::size_t c = 0; c < classes.size(); ++c)
                        chosen(b, i, j, c) = map(b, i, j, std::size_t(classes[c]));
        return chosen;
    }
}

}  // namespace detail

// The coarse map, one pass: evidence(n, k, i, j) is the class-k logit of the q x q
// patch whose top-left pixel is (s i, s j). The image's logits are its mean, so
// top() needs no second pass.
template <class Backend>
Heatmaps coarse_heatmap(const Model<Backend>& model, const ImagesView& x, const ClassChoice& choice) {
    check_input(model, x);
    const Tensor4 map = logit_map(model, x);
    const Tensor2 scores = choice.needs_logits() ? Tensor2(xt::mean(map, {1, 2})) : Tensor2{};
    auto classes = choice.resolve(model.architecture(), scores, x.shape()[0]);
    return {detail::select_classes(map, classes), std::move(classes)};
}

namespace detail {

// The classes images n0 ... n1 ask for, each once and sorted: a pass computes only
// these, so that the head is a fraction of its work.
inline std::vector<int> wanted_classes(const std::vector<std::vector<int>>& classes, std::size_t n0, std::size_t n1) {
    std::vector<int> wanted;
    for (std::size_t n = n0; n <= n1; ++n) wanted.insert(wanted.end(), classes[n].begin(), classes[n].end());
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    return wanted;
}

// Where class c sits among `wanted` (a pass's columns).
inline std::size_t column_of(const std::vector<int>& wanted, int c) {
    return std::size_t(std::lower_bound(wanted.begin(), wanted.end(), c) - wanted.begin());
}

// The dense map by the a-trous evaluation (explain/dense_evaluation.hpp): per image,
// one pass of the dense graph over the zero-padded image, or over bands of its rows
// where the image is too large for config::dense_value_bytes. Several small images
// share a pass.
// `value_bytes`: the budget for the widest value of a pass.
template <class Backend>
Tensor4 a_trous_evidence(const Model<Backend>& model, const ImagesView& x, const std::vector<std::vector<int>>& classes,
                         const HeatmapProgress& progress, std::size_t value_bytes = config::dense_value_bytes) {
    const std::size_t images = x.shape()[0], channels = x.shape()[1], height = x.shape()[2], width = x.shape()[3];
    const std::size_t k = classes.front().size(), q = std::size_t(model.architecture().patch_size), half = (q - 1) / 2;
    const std::size_t padded_w = width + q - 1;

    // Bands of equal height (the last one overlaps the one before), so that every pass
    // has the same shape and shares one plan; as many per pass as the budget holds.
    const std::size_t rows_fit =
        std::max<std::size_t>(value_bytes / dense_row_bytes(model.architecture(), padded_w), 1);
    const std::size_t bands = (height + rows_fit - 1) / rows_fit, band_rows = (height + bands - 1) / bands;
    const std::size_t batch = std::max<std::size_t>(rows_fit / band_rows, 1), total = images * bands;

    Executor<Backend> executor;  // its plans hold the cut head's weights
    std::optional<DenseEvaluation> dense;
    Tensor4 evidence = xt::zeros<float>({images, k, height, width});
    for (std::size_t first = 0; first < total; first += batch) {
        const std::size_t count = std::min(batch, total - first);
        const auto top = [&](std::size_t item) { return std::min(item % bands * band_rows, height - band_rows); };
        Tensor4 input = xt::zeros<float>({count, channels, band_rows + q - 1, padded_w});
        for (std::size_t b = 0; b < count; ++b) {
            const std::size_t n = (first + b) / bands, row0 = top(first + b);
            // Band rows r of the padded image are image rows r - half.
            for (std::size_t ch = 0; ch < channels; ++ch)
                for (std::size_t r = 0; r < band_rows + q - 1; ++r) {
                    const std::size_t y = row0 + r;
                    if (y >= half && y - half < height) std::copy_n(&x(n, ch, y - half, 0), width, &input(b, ch, r, half));
                }
        }
        const std::vector<int> wanted = wanted_classes(classes, first / bands, (first + count - 1) / bands);
        if (!dense || dense->classes() != wanted) {
            dense.emplace(model.architecture(), model.parameters(), wanted);
            executor.invalidate();
        }
        const Tensor4 map = with_backend_errors<Backend>(
            [&] { return executor.logit_map(dense->architecture(), dense->parameters(), input, model.precision()); });
        for (std::size_t b = 0; b < count; ++b) {
            const std::size_t n = (first + b) / bands, row0 = top(first + b);
            for (std::size_t c = 0; c < k; ++c) {
                const std::size_t column = column_of(wanted, classes[n][c]);
                for (std::size_t i = 0; i < band_rows; ++i)
                    for (std::size_t j = 0; j < width; ++j) evidence(n, c, row0 + i, j) = map(b, i, j, column);
            }
        }
        if (progress) progress(first + count, total);
    }
    return evidence;
}

// The dense map by s^2 shifted passes of the network itself (s: the output stride):
// the pass over the padded image shifted by (a, b) yields the patches whose top-left
// corners are (a + s i, b + s j). For backends without the dense evaluation.
template <class Backend>
Tensor4 shifted_evidence(const Model<Backend>& model, const ImagesView& x, const std::vector<std::vector<int>>& classes,
                         const HeatmapProgress& progress) {
    const Architecture& arch = model.architecture();
    const std::size_t images = x.shape()[0], channels = x.shape()[1], height = x.shape()[2], width = x.shape()[3];
    const std::size_t k = classes.front().size();
    const auto q = std::size_t(arch.patch_size), s = std::size_t(output_stride(arch));
    const std::size_t half = (q - 1) / 2;

    // Every shift uses the same crop size, so all passes share one inference plan;
    // rows and columns a shift does not need come out beyond the image and are dropped.
    const std::size_t rows = (height + s - 1) / s, cols = (width + s - 1) / s;
    const std::size_t crop_h = s * (rows - 1) + q, crop_w = s * (cols - 1) + q;
    const std::size_t padded_h = s - 1 + crop_h, padded_w = s - 1 + crop_w;

    // Batches of shifted crops, sized for the backend (see batch_pixels); whole
    // images per batch where several fit, so that every batch has the same shape.
    std::size_t batch = std::max<std::size_t>(batch_pixels<Backend>::value / (crop_h * crop_w), 1);
    if (batch >= s * s) batch -= batch % (s * s);
    const std::size_t total = images * s * s;

    const std::size_t per_image = s * s;
    Tensor4 evidence = xt::zeros<float>({images, k, height, width});
    for (std::size_t first = 0; first < total; first += batch) {
        const std::size_t count = std::min(batch, total - first);
        // The images these shifts come from, zero-padded by (q-1)/2 on the top and left
        // (and enough on the bottom and right for every crop).
        const std::size_t n0 = first / per_image, n1 = (first + count - 1) / per_image;
        Tensor4 padded = xt::zeros<float>({n1 - n0 + 1, channels, padded_h, padded_w});
        for (std::size_t n = n0; n <= n1; ++n)
            for (std::size_t ch = 0; ch < channels; ++ch)
                for (std::size_t y = 0; y < height; ++y)
                    std::copy_n(&x(n, ch, y, 0), width, &padded(n - n0, ch, y + half, half));
        std::vector<int> crops;
        for (std::size_t item = first; item < first + count; ++item)
            crops.insert(crops.end(), {int(item / per_image - n0), int(item % per_image / s), int(item % s)});
        const std::vector<int> wanted = wanted_classes(classes, n0, n1);
        const Tensor4 map = crop_logit_maps(model, padded, crops, crop_h, crop_w, wanted);
        for (std::size_t b = 0; b < count; ++b) {
            const std::size_t item = first + b, n = item / per_image, dy = item % per_image / s, dx = item % s;
            for (std::size_t c = 0; c < k; ++c) {
                const std::size_t column = column_of(wanted, classes[n][c]);
                for (std::size_t i = 0; i < rows && dy + s * i < height; ++i)
                    for (std::size_t j = 0; j < cols && dx + s * j < width; ++j)
                        evidence(n, c, dy + s * i, dx + s * j) = map(b, i, j, column);
            }
        }
        if (progress) progress(first + count, total);
    }
    return evidence;
}

}  // namespace detail

// The exact full-resolution map: evidence(n, k, y, x) is the class-k logit of the
// q x q patch centred on pixel (y, x) of the zero-padded image.
template <class Backend>
Heatmaps dense_heatmap(const Model<Backend>& model, const ImagesView& x, const ClassChoice& choice,
                       const HeatmapProgress& progress = {}) {
    output_stride(model.architecture());  // refuses networks without patch geometry
    check_input(model, x);  // a GPU backend checks the values as it cuts the crops
    auto classes = detail::resolve_classes(model, x, choice);
    if constexpr (runs_dense_evaluation<Backend>::value)
        return {detail::a_trous_evidence(model, x, classes, progress), std::move(classes)};
    else
        return {detail::shifted_evidence(model, x, classes, progress), std::move(classes)};
}

// Built once in bagnet::compiled (bagnet/instances.hpp).
#define BAGNET_HEATMAP_INSTANCES(prefix, Backend)                                                       \
    prefix Heatmaps coarse_heatmap<Backend>(const Model<Backend>&, const ImagesView&, const ClassChoice&); \
    prefix Heatmaps dense_heatmap<Backend>(const Model<Backend>&, const ImagesView&, const ClassChoice&,   \
        const HeatmapProgress&);
BAGNET_EXTERN_INSTANCES(BAGNET_HEATMAP_INSTANCES)

}  // namespace bagnet
