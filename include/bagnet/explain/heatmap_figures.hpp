#pragma once
// The figure of one image of a batch beside its heatmaps, as the command line's
// `heatmap --output OUT.png` and the Python module draw it: every map labelled with
// its class and that class's logit, coarse maps spread over the image's pixels; and
// the figures of a whole data set, shared between processes.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <xtensor/xview.hpp>

#include "bagnet/data/dataset.hpp"
#include "bagnet/distributed/shard.hpp"
#include "bagnet/explain/heatmap.hpp"
#include "bagnet/explain/heatmap_picture.hpp"
#include "bagnet/instances.hpp"

namespace bagnet {

// Image n of x with its maps (coarse_heatmap's or dense_heatmap's for x) and the
// logits of x (N x classes). `label` names a class; `caption` (the image's name)
// heads the figure with the architecture and the kind of map.
inline Picture heatmap_figure(const Architecture& arch, const ImagesView& x, std::size_t n, const Heatmaps& maps,
                              const Tensor2& scores, const std::function<std::string(int)>& label,
                              const Display& display, const std::string& caption, double percentile = 99.0) {
    const std::size_t height = x.shape()[2], width = x.shape()[3], k = maps.classes[n].size();
    // A dense map has the image's size; a coarse one is smaller for every BagNet.
    const bool dense = maps.evidence.shape()[2] == height && maps.evidence.shape()[3] == width;
    Tensor shown = Tensor::from_shape({k, height, width});
    std::vector<std::string> labels;
    for (std::size_t c = 0; c < k; ++c) {
        const int cls = maps.classes[n][c];
        const Tensor map = xt::view(maps.evidence, n, c);
        xt::view(shown, c) = dense ? map : coarse_to_pixels(map, arch, height, width);
        labels.push_back(label(cls) + ": logit " + format_number(scores(n, std::size_t(cls))));
    }
    return heatmap_figure(displayable(x, n, display), shown, labels,
                          caption + " - " + arch.name + (dense ? ", exact per-pixel evidence" : ", coarse evidence"),
                          percentile);
}

namespace detail {
// A picture as bytes for another process, and back.
inline void write_picture(distributed::Writer& out, const Picture& picture) {
    out.number(picture.width()).number(picture.height());
    std::string pixels;
    for (int y = 0; y < picture.height(); ++y)
        for (int x = 0; x < picture.width(); ++x) {
            const Rgb p = picture.at(x, y);
            pixels += {char(p.r), char(p.g), char(p.b)};
        }
    out.text(pixels);
}
inline Picture read_picture(distributed::Reader& in) {
    const int width = in.number<int>(), height = in.number<int>();
    const std::string pixels = in.text();
    Picture picture(width, height);
    for (int y = 0, i = 0; y < height; ++y)
        for (int x = 0; x < width; ++x, i += 3)
            picture.at(x, y) = {std::uint8_t(pixels[std::size_t(i)]), std::uint8_t(pixels[std::size_t(i) + 1]),
                                std::uint8_t(pixels[std::size_t(i) + 2])};
    return picture;
}
}  // namespace detail

// Which heatmap a figure shows: coarse_heatmap's or dense_heatmap's.
enum class HeatmapKind { coarse, dense };

// The figure of every image of a data set, in data-set order, each made by the process that
// computes its batch (distributed/shard.hpp) and gathered on the first process (empty on the
// others), so the figures are one process's whatever the number of processes. Each figure is
// captioned with its image's name and, where it has a label, its true class. `progress`
// follows the dense passes of each batch.
template <class Backend>
std::vector<Picture> heatmap_figures(const Model<Backend>& model, const data::Dataset& data, const ClassChoice& choice,
                                     HeatmapKind kind, const std::function<std::string(int)>& label,
                                     const Display& display, double percentile,
                                     const distributed::ShardOptions& options, distributed::Communicator& processes,
                                     const HeatmapProgress& progress = {}) {
    const Architecture& arch = model.architecture();
    const auto parts = distributed::map_batches(data, options, processes, [&](const data::Batch& batch) {
        const Tensor4& x = batch.images;
        const Heatmaps maps =
            kind == HeatmapKind::dense ? dense_heatmap(model, x, choice, progress) : coarse_heatmap(model, x, choice);
        const Tensor2 scores = logits(model, x);
        distributed::Writer out;
        for (std::size_t n = 0; n < x.shape()[0]; ++n) {
            const std::string truth = batch.labels[n] >= 0 ? " (true: " + label(int(batch.labels[n])) + ")" : "";
            detail::write_picture(out, heatmap_figure(arch, x, n, maps, scores, label, display,
                                                      data.name(batch.indices[n]) + truth, percentile));
        }
        return out.bytes();
    });
    std::vector<Picture> figures;
    for (const std::string& part : parts)
        for (distributed::Reader in(part); !in.done();) figures.push_back(detail::read_picture(in));
    return figures;
}

// Built once in bagnet::compiled (bagnet/instances.hpp).
#define BAGNET_HEATMAP_FIGURES_INSTANCES(prefix, Backend)                                                           \
    prefix std::vector<Picture> heatmap_figures<Backend>(const Model<Backend>&, const data::Dataset&,               \
        const ClassChoice&, HeatmapKind, const std::function<std::string(int)>&, const Display&, double,            \
        const distributed::ShardOptions&, distributed::Communicator&, const HeatmapProgress&);
BAGNET_EXTERN_INSTANCES(BAGNET_HEATMAP_FIGURES_INSTANCES)

}  // namespace bagnet
