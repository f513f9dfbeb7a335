#pragma once
// Pictures of patches: a row of patches, each with its score and source, and the
// grid of a class's most informative patches (one row among images of the class,
// one among images of other classes).
#include <algorithm>
#include <string>
#include <vector>

#include "bagnet/explain/heatmap_picture.hpp"
#include "bagnet/explain/top_patches.hpp"

namespace bagnet {

// `text` cut to at most `width` pixels, keeping its end (a file name says more than its folder).
inline std::string fitted(const std::string& text, int width) {
    if (Picture::text_width(text) <= width) return text;
    std::string cut = text;
    while (!cut.empty() && Picture::text_width(".." + cut) > width) cut.erase(0, 1);
    return ".." + cut;
}

// Patches shown with the data set's display statistics, enlarged to about 96 pixels,
// under an optional heading.
inline Picture patch_row(const std::vector<Patch>& patches, const Display& display = {}, const std::string& heading = "") {
    const int q = patches.empty() ? 1 : int(patches[0].pixels.shape()[1]);
    const int factor = std::max(1, 96 / q), tile = std::max(q * factor, 64), gap = 10, line = Picture::text_height();
    const int top = heading.empty() ? 0 : line + 4;
    Picture row(gap + int(std::max<std::size_t>(patches.size(), 1)) * (tile + gap), top + tile + 2 * line + 8);
    if (!heading.empty()) row.text(gap, 0, heading);
    for (std::size_t i = 0; i < patches.size(); ++i) {
        const Patch& p = patches[i];
        const int x = gap + int(i) * (tile + gap);
        Tensor4 one = Tensor4::from_shape({1, p.pixels.shape()[0], p.pixels.shape()[1], p.pixels.shape()[2]});
        std::copy(p.pixels.begin(), p.pixels.end(), one.begin());
        row.paste(to_picture(displayable(one, 0, display)).enlarged(factor), x, top);
        row.text(x, top + q * factor + 2, format_number(p.score) + (p.label >= 0 ? "  label " + std::to_string(p.label) : ""));
        row.text(x, top + q * factor + 2 + line, fitted(p.source + " @" + std::to_string(p.y) + "," + std::to_string(p.x), tile));
    }
    return row;
}

inline Picture patch_grid(const TopPatches& top, const std::string& class_name, const Display& display = {}) {
    const int gap = 10;
    const std::string heading = "most informative patches of " + class_name + " (" + std::to_string(top.images) +
                                " images; score = class evidence of the patch)";
    Picture title(2 * gap + Picture::text_width(heading), Picture::text_height() + 2 * gap);
    title.text(gap, gap, heading);
    return stacked({title, patch_row(top.of_class, display, "among images of this class"),
                    patch_row(top.of_other_classes, display, "among images of other classes (what could fool the model)")});
}

}  // namespace bagnet
