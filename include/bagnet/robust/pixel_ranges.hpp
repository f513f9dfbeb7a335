#pragma once
// The pixel ranges of the normalisations the library's data sets use, by the names the
// front ends take: what a patch attack may set a pixel to. Not in <bagnet/robust.hpp>:
// the ImageNet statistics come with the image decoders' header.
#include <string>

#include "bagnet/data/fashion_mnist.hpp"
#include "bagnet/error.hpp"
#include "bagnet/io/image.hpp"
#include "bagnet/robust/patch_attack.hpp"

namespace bagnet {

// [0, 1] pixels normalised as `normalization` makes them: "fashion-mnist" (normalize_fashion_mnist)
// or "imagenet" (imagenet_preprocess); "" picks by the model's input channels (1: fashion-mnist,
// else imagenet).
inline PixelRange pixel_range_by_name(const std::string& normalization, int in_channels) {
    const std::string name = !normalization.empty() ? normalization : in_channels == 1 ? "fashion-mnist" : "imagenet";
    if (name == "fashion-mnist") return PixelRange::normalised({fashion_mnist_mean}, {fashion_mnist_std});
    require(name == "imagenet", "unknown normalization '" + name + "' (expected fashion-mnist or imagenet)");
    return PixelRange::normalised(io::imagenet_mean, io::imagenet_stddev);
}

}  // namespace bagnet
