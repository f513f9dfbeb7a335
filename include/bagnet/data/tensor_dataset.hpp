#pragma once
// Images held in memory as a data set (Fashion-MNIST, npy arrays), with the
// augmentation such small images get: a random shift within a padded border and
// a horizontal flip.
#include <cstdint>
#include <string>
#include <vector>

#include "bagnet/data/dataset.hpp"
#include "bagnet/data/random.hpp"
#include "bagnet/error.hpp"
#include "bagnet/io/idx.hpp"
#include "bagnet/tensor.hpp"

namespace bagnet::data {

// Augmentation of an in-memory C x H x W image: a shift by up to crop_padding
// pixels each way (the uncovered border filled with `fill`), then a horizontal
// flip with probability 1/2. Defaults: none.
struct TensorAugment {
    int crop_padding = 0;
    bool flip = false;
    float fill = 0.f;  // the padding's value (the normalised background)
    TensorAugment& random_crop(int padding, float value) { crop_padding = padding; fill = value; return *this; }
    TensorAugment& random_flip(bool on) { flip = on; return *this; }

    void apply(const float* in, int channels, int height, int width, Random& rng, float* out) const {
        const int dy = crop_padding ? int(rng.below(std::uint64_t(2 * crop_padding + 1))) - crop_padding : 0;
        const int dx = crop_padding ? int(rng.below(std::uint64_t(2 * crop_padding + 1))) - crop_padding : 0;
        const bool mirrored = flip && rng.coin();
        const std::size_t plane = std::size_t(height) * std::size_t(width);
        for (int c = 0; c < channels; ++c)
            for (int y = 0; y < height; ++y)
                for (int x = 0; x < width; ++x) {
                    const int sy = y + dy, sx = (mirrored ? width - 1 - x : x) + dx;
                    const bool inside = sy >= 0 && sy < height && sx >= 0 && sx < width;
                    out[std::size_t(c) * plane + std::size_t(y) * std::size_t(width) + std::size_t(x)] =
                        inside ? in[std::size_t(c) * plane + std::size_t(sy) * std::size_t(width) + std::size_t(sx)]
                               : fill;
                }
    }
};

// Images held in memory (N x C x H x W, already normalised) with their labels,
// augmented per item by a TensorAugment. Keeps references: `images` and
// `labels` must outlive it.
class TensorDataset : public Dataset {
public:
    TensorDataset(const Tensor4& images, const std::vector<std::int64_t>& labels, TensorAugment augment = {},
                  std::string name_prefix = "image", std::vector<std::string> class_names = {})
        : images_(images), labels_(labels), augment_(augment), prefix_(std::move(name_prefix)),
          class_names_(std::move(class_names)) {
        require(labels.size() == images.shape()[0], "the data set has " + std::to_string(images.shape()[0]) +
                                                        " images but " + std::to_string(labels.size()) + " labels");
    }
    explicit TensorDataset(const LabelledImages& data, TensorAugment augment = {}, std::string name_prefix = "image")
        : TensorDataset(data.images, data.labels, augment, std::move(name_prefix)) {}

    // Temporaries would be gone before the first item is read.
    TensorDataset(Tensor4&&, const std::vector<std::int64_t>&, TensorAugment = {}, std::string = {},
                  std::vector<std::string> = {}) = delete;
    TensorDataset(const Tensor4&, std::vector<std::int64_t>&&, TensorAugment = {}, std::string = {},
                  std::vector<std::string> = {}) = delete;
    TensorDataset(Tensor4&&, std::vector<std::int64_t>&&, TensorAugment = {}, std::string = {},
                  std::vector<std::string> = {}) = delete;
    explicit TensorDataset(LabelledImages&&, TensorAugment = {}, std::string = {}) = delete;

    std::size_t size() const override { return labels_.size(); }
    std::int64_t label(std::size_t index) const override { return labels_[index]; }
    std::string name(std::size_t index) const override { return prefix_ + " " + std::to_string(index); }
    ItemShape shape() const override { return {images_.shape()[1], images_.shape()[2], images_.shape()[3]}; }
    void load(std::size_t index, Random& rng, float* out) const override {
        const ItemShape s = shape();
        augment_.apply(images_.data() + index * s.size(), int(s.channels), int(s.height), int(s.width), rng, out);
    }
    const std::vector<std::string>& class_names() const override { return class_names_; }

private:
    const Tensor4& images_;
    const std::vector<std::int64_t>& labels_;
    TensorAugment augment_;
    std::string prefix_;
    std::vector<std::string> class_names_;
};

}  // namespace bagnet::data
