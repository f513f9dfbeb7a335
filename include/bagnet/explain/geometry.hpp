#pragma once
// Where the entries of a BagNet's logit map sit in the image.
#include "bagnet/arch.hpp"
#include "bagnet/layers/shapes.hpp"

namespace bagnet {

// Pixels between neighbouring entries of the logit map: the product of the strides
// along the main path (8 for the ImageNet models, 4 for `small`). Entry (i, j) is
// the q x q patch whose top-left pixel is (s i, s j). Only a network without padding
// (a BagNet) has that geometry.
inline int output_stride(const Architecture& arch) {
    require(arch.patch_size > 0, arch.name + " pads its convolutions: its logit map has no patch geometry "
                                             "(explanations need a BagNet)");
    return output_stride(arch.graph);
}

}  // namespace bagnet
