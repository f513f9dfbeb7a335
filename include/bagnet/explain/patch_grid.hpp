#pragma once
// The picture of a class's most informative patches: one row among images of the
// class, one among images of other classes, each patch with its score and source.
#include <algorithm>
#include <string>
#include <vector>

#include "bagnet/explain/heatmap_picture.hpp"
#include "bagnet/explain/top_patches.hpp"

namespace bagnet {

// `text` cut to at most `width` pixels, with ".." where it was cut.
inline std::string fitted(const std::string& text, int width) {
    if (Picture::text_width(text) <= width) return text;
    std::string cut = text;
    while (!cut.empty() && Picture::text_width(".." + cut) > width) cut.erase(0, 1);
    return ".." + cut;  // the end of a file name says more than its folder
}

// Patches are shown with the data set's display statistics, enlarged to about 96 pixels.
inline Picture patch_grid(const TopPatches& top, const std::string& class_name, const Display& display = {}) {
    const std::size_t columns = std::max<std::size_t>({top.of_class.size(), top.of_other_classes.size(), 1});
    const int q = top.of_class.empty() ? (top.of_other_classes.empty() ? 1 : int(top.of_other_classes[0].pixels.shape()[1]))
                                       : int(top.of_class[0].pixels.shape()[1]);
    const int factor = std::max(1, 96 / q), tile = q * factor, gap = 10, line = Picture::text_height();
    const int row_height = line + 4 + tile + 2 * line + gap;
    Picture grid(gap + int(columns) * (tile + gap), gap + line + gap + 2 * row_height);
    grid.text(gap, gap, "most informative patches of " + class_name + " (" + std::to_string(top.images) +
                            " images scanned; score = class evidence of the patch)");
    const auto row = [&](const std::vector<Patch>& patches, const std::string& heading, int y) {
        grid.text(gap, y, heading);
        for (std::size_t i = 0; i < patches.size(); ++i) {
            const Patch& p = patches[i];
            const int x = gap + int(i) * (tile + gap);
            Tensor4 one = Tensor4::from_shape({1, p.pixels.shape()[0], p.pixels.shape()[1], p.pixels.shape()[2]});
            std::copy(p.pixels.begin(), p.pixels.end(), one.begin());
            grid.paste(to_picture(displayable(one, 0, display)).enlarged(factor), x, y + line + 4);
            grid.text(x, y + line + 6 + tile, format_number(p.score) + "  label " + std::to_string(p.label));
            grid.text(x, y + 2 * line + 6 + tile, fitted(p.source + " @" + std::to_string(p.y) + "," + std::to_string(p.x), tile));
        }
    };
    const int first = gap + line + gap;
    row(top.of_class, "among images of this class", first);
    row(top.of_other_classes, "among images of other classes (what could fool the model)", first + row_height);
    return grid;
}

}  // namespace bagnet
