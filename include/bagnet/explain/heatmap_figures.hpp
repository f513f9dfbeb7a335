#pragma once
// The figure of one image of a batch beside its heatmaps, as the command line's
// `heatmap --output OUT.png` and the Python module draw it: every map labelled with
// its class and that class's logit, coarse maps spread over the image's pixels.
#include <functional>
#include <string>
#include <vector>

#include <xtensor/xview.hpp>

#include "bagnet/explain/heatmap.hpp"
#include "bagnet/explain/heatmap_picture.hpp"

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

}  // namespace bagnet
