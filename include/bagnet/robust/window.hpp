#pragma once
// Where an adversarial patch can reach in a BagNet's logit map. Cell (i, j) of the map
// sees the q x q pixels from (s i, s j) (s: the output stride), so a patch of p
// consecutive pixels overlaps the receptive fields of at most ceil((p + q - 1) / s)
// consecutive cells along that axis. Every cell it does not overlap keeps its evidence
// exactly: a certificate has to hold for every block of that many cells.
#include <algorithm>
#include <string>

#include "bagnet/explain/geometry.hpp"

namespace bagnet {

// An attacker's patch of pixels.
struct PatchSize {
    int height = 1, width = 1;
    static PatchSize square(int side) { return {side, side}; }
};

// A block of cells of the logit map, at any position inside it: the most one patch
// can change.
struct PatchWindow {
    int height = 1, width = 1;
    int cells() const { return height * width; }
};

inline std::string to_string(PatchSize p) { return std::to_string(p.height) + " x " + std::to_string(p.width); }
inline std::string to_string(PatchWindow w) { return std::to_string(w.height) + " x " + std::to_string(w.width); }

// Cells along one axis that a patch of `patch` pixels can touch: ceil((p + q - 1) / s),
// at most the map's extent.
inline int cells_touched(int patch, int q, int stride, int map) {
    require(patch >= 1, "the patch must be at least 1 pixel wide, got " + std::to_string(patch));
    require(q >= 1 && stride >= 1 && map >= 1, "cells_touched: q, the stride and the map extent must be positive");
    return std::min(map, (patch + q - 1 + stride - 1) / stride);
}

// The window of a patch for a BagNet on images of image_height x image_width pixels.
inline PatchWindow patch_window(const Architecture& arch, PatchSize patch, int image_height, int image_width) {
    require(patch.height >= 1 && patch.width >= 1, "the patch must be at least 1 x 1 pixels, got " + to_string(patch));
    require(patch.height <= image_height && patch.width <= image_width,
            "a " + to_string(patch) + " patch does not fit in " + std::to_string(image_height) + " x " +
                std::to_string(image_width) + " images");
    const int map_height = arch.map_size(image_height), map_width = arch.map_size(image_width);
    require(map_height >= 1 && map_width >= 1, arch.name + " needs images of at least " +
                                                   std::to_string(arch.min_input_size()) + " pixels per side, got " +
                                                   std::to_string(image_height) + " x " + std::to_string(image_width));
    const int q = arch.patch_size, stride = output_stride(arch);
    return {cells_touched(patch.height, q, stride, map_height), cells_touched(patch.width, q, stride, map_width)};
}

}  // namespace bagnet
