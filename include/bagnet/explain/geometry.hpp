#pragma once
// Where the entries of a BagNet's logit map sit in the image.
#include "bagnet/arch.hpp"

namespace bagnet {

// Pixels between neighbouring entries of the logit map: the product of the strides
// along the main path (8 for the ImageNet models, 4 for `small`). Entry (i, j) is
// the q x q patch whose top-left pixel is (s i, s j).
inline int output_stride(const Architecture& arch) {
    int stride = 1;
    for (const auto& conv : arch.stem) stride *= conv.stride;
    for (const auto& block : arch.blocks) stride *= block.conv1.stride * block.conv2.stride * block.conv3.stride;
    return stride;
}

}  // namespace bagnet
