#pragma once
// Pictures of patches: a row of patches, each with its score and source, and the
// grid of a class's most informative patches (one row among images of the class,
// one among images of other classes).
#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "bagnet/explain/heatmap_picture.hpp"
#include "bagnet/explain/top_patches.hpp"

namespace bagnet {

// Names a class for a picture or a report ("sneaker", "281 tabby").
using ClassNamer = std::function<std::string(int)>;

inline std::string numbered_class(int index) { return "class " + std::to_string(index); }

// `text` cut to at most `width` pixels, keeping its end (a file name says more than its folder).
inline std::string fitted(const std::string& text, int width) {
    if (Picture::text_width(text) <= width) return text;
    std::string cut = text;
    while (!cut.empty() && Picture::text_width(".." + cut) > width) cut.erase(0, 1);
    return ".." + cut;
}

// `text` cut to at most `width` pixels, keeping its start (a class name's first words say most).
inline std::string fitted_start(const std::string& text, int width) {
    if (Picture::text_width(text) <= width) return text;
    std::string cut = text;
    while (!cut.empty() && Picture::text_width(cut + "..") > width) cut.pop_back();
    return cut + "..";
}

// A patch's image by its file name (not its folders), or as named.
inline std::string short_source(const std::string& source) {
    const auto slash = source.rfind('/');
    return slash == std::string::npos ? source : source.substr(slash + 1);
}

// Patches shown with the data set's display statistics, enlarged to about 96 pixels,
// under an optional heading; under each its evidence, its image's class, its image
// and where in the image it lies, each line fitted to the tile.
inline Picture patch_row(const std::vector<Patch>& patches, const Display& display = {}, const std::string& heading = "",
                         const ClassNamer& name = numbered_class) {
    const int q = patches.empty() ? 1 : int(patches[0].pixels.shape()[1]);
    const int factor = std::max(1, 96 / q), tile = std::max(q * factor, 64), gap = 10, line = Picture::text_height();
    const int top = heading.empty() ? 0 : line + 4;
    Picture row(gap + int(std::max<std::size_t>(patches.size(), 1)) * (tile + gap), top + tile + 4 * line + 8);
    if (!heading.empty()) row.text(gap, 0, heading);
    for (std::size_t i = 0; i < patches.size(); ++i) {
        const Patch& p = patches[i];
        const int x = gap + int(i) * (tile + gap), y = top + q * factor + 2;
        Tensor4 one = Tensor4::from_shape({1, p.pixels.shape()[0], p.pixels.shape()[1], p.pixels.shape()[2]});
        std::copy(p.pixels.begin(), p.pixels.end(), one.begin());
        row.paste(to_picture(displayable(one, 0, display)).enlarged(factor), x, top);
        row.text(x, y, fitted_start("evidence " + format_number(p.score), tile));
        if (p.label >= 0) row.text(x, y + line, fitted_start(name(int(p.label)), tile));
        row.text(x, y + 2 * line, fitted(short_source(p.source), tile));
        row.text(x, y + 3 * line, fitted_start("at " + std::to_string(p.y) + "," + std::to_string(p.x), tile));
    }
    return row;
}

inline Picture patch_grid(const TopPatches& top, const ClassNamer& name, const Display& display = {}) {
    const int gap = 10;
    const std::string heading = "most informative patches of " + name(top.class_index) + " (" +
                                std::to_string(top.images) + " images; evidence = the patch's logit for the class)";
    Picture title(2 * gap + Picture::text_width(heading), Picture::text_height() + 2 * gap);
    title.text(gap, gap, heading);
    return stacked({title, patch_row(top.of_class, display, "among images of this class", name),
                    patch_row(top.of_other_classes, display, "among images of other classes (what could fool the model)",
                              name)});
}

}  // namespace bagnet
