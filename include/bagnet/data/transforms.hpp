#pragma once
// The transforms between a decoded picture and a model input, with
// torchvision's semantics:
//   training (ImageNet): RandomResizedCrop(size, scale = (0.08, 1), ratio = (3/4, 4/3))
//                        then RandomHorizontalFlip(0.5), ToTensor, Normalize
//   evaluation:          Resize(size * 256 / 224) then CenterCrop(size), ToTensor, Normalize
//   none:                the picture as it is (it must already be size x size)
// The crops and resizes are PIL's to the bit (bagnet/io/image.hpp); the random
// numbers are bagnet's own (bagnet/data/random.hpp), so the crops follow
// torchvision's distribution, not its exact draws.

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "bagnet/data/random.hpp"
#include "bagnet/error.hpp"
#include "bagnet/io/image.hpp"

namespace bagnet::data {

struct CropBox {
    int top = 0, left = 0, height = 0, width = 0;
};

// Python's round(): halves to even.
inline int round_half_even(double x) { return int(std::nearbyint(x)); }

// torchvision's RandomResizedCrop.get_params: up to 10 tries of an area fraction
// uniform in `scale` and a log-uniform aspect ratio (width / height) in `ratio`,
// keeping the first box that fits at a uniform position; else the centred box
// of the whole image clamped to the ratio range.
inline CropBox random_resized_crop_box(int height, int width, Random& rng, double min_scale = 0.08,
                                       double max_scale = 1.0, double min_ratio = 3.0 / 4.0,
                                       double max_ratio = 4.0 / 3.0) {
    const double area = double(height) * double(width);
    const double log_min = std::log(min_ratio), log_max = std::log(max_ratio);
    for (int attempt = 0; attempt < 10; ++attempt) {
        const double target_area = area * rng.uniform(min_scale, max_scale);
        const double aspect = std::exp(rng.uniform(log_min, log_max));
        const int w = round_half_even(std::sqrt(target_area * aspect));
        const int h = round_half_even(std::sqrt(target_area / aspect));
        if (0 < w && w <= width && 0 < h && h <= height) {
            const int top = int(rng.below(std::uint64_t(height - h + 1)));
            const int left = int(rng.below(std::uint64_t(width - w + 1)));
            return {top, left, h, w};
        }
    }
    const double in_ratio = double(width) / double(height);
    int w = width, h = height;
    if (in_ratio < min_ratio) {
        h = round_half_even(w / min_ratio);
    } else if (in_ratio > max_ratio) {
        w = round_half_even(h * max_ratio);
    }
    return {(height - h) / 2, (width - w) / 2, h, w};
}

inline io::Image horizontal_flip(io::Image image) {
    const auto c = std::size_t(image.channels);
    for (int y = 0; y < image.height; ++y)
        for (int x = 0, mirror = image.width - 1; x < mirror; ++x, --mirror)
            for (std::size_t k = 0; k < c; ++k) std::swap(image.at(y, x, int(k)), image.at(y, mirror, int(k)));
    return image;
}

enum class ImageTransformKind { random_resized_crop, center_crop, none };

// From a decoded picture to normalised C x H x W floats.
struct ImageTransform {
    ImageTransformKind kind = ImageTransformKind::center_crop;
    int size = 224;     // the output is size x size
    int resize = 256;   // center_crop: the shorter side before the crop
    bool flip = false;  // random horizontal flip after the crop
    int channels = 3;
    std::vector<float> mean = io::imagenet_mean, stddev = io::imagenet_stddev;

    // ImageNet training: RandomResizedCrop(size) + RandomHorizontalFlip.
    static ImageTransform imagenet_train(int size = 224) {
        ImageTransform t;
        t.kind = ImageTransformKind::random_resized_crop;
        t.size = size;
        t.flip = true;
        return t;
    }
    // ImageNet evaluation: Resize(size * 256 / 224) + CenterCrop(size), i.e. 256 and 224.
    static ImageTransform imagenet_eval(int size = 224) {
        ImageTransform t;
        t.size = size;
        t.resize = size * 256 / 224;
        return t;
    }
    // No resize or crop: every picture must be size x size already.
    static ImageTransform unchanged(int size) {
        ImageTransform t;
        t.kind = ImageTransformKind::none;
        t.size = size;
        return t;
    }

    // Transforms `image` (already converted to `channels`), drawing crops and flips from rng.
    void apply(const io::Image& image, Random& rng, float* out, const std::string& name) const {
        require(image.channels == channels, name + ": the transform expects " + std::to_string(channels) +
                                                " channels, the image has " + std::to_string(image.channels));
        io::Image result;
        switch (kind) {
            case ImageTransformKind::random_resized_crop: {
                const CropBox box = random_resized_crop_box(image.height, image.width, rng);
                result = io::resize_bilinear(io::crop(image, box.top, box.left, box.height, box.width), size, size);
                break;
            }
            case ImageTransformKind::center_crop:
                result = io::center_crop(io::resize_shorter_side(image, resize), size, size);
                break;
            case ImageTransformKind::none:
                require(image.height == size && image.width == size,
                        name + ": the image is " + std::to_string(image.height) + " x " + std::to_string(image.width) +
                            " but the unchanged transform needs every image " + std::to_string(size) + " x " +
                            std::to_string(size));
                result = image;
                break;
        }
        if (flip && rng.coin()) result = horizontal_flip(std::move(result));
        io::normalize_into(result, mean, stddev, out);
    }
};

}  // namespace bagnet::data
