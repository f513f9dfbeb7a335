#pragma once
// Fashion-MNIST (Debian's dataset-fashion-mnist): 28 x 28 grey images of ten kinds
// of clothing, 60000 for training and 10000 for testing. The raw splits, the
// normalisation the small BagNets are trained with, the class names, and each
// split as a data set that owns its images.
//
//   data::FashionMnist train("train", data::TensorAugment().random_flip(true));
//   data::BatchStream stream(train, train::fashion_mnist_recipe().stream_options(seed));
#include <string>
#include <vector>

#include "bagnet/data/dataset.hpp"
#include "bagnet/data/tensor_dataset.hpp"
#include "bagnet/error.hpp"
#include "bagnet/io/idx.hpp"
#include "bagnet/tensor.hpp"

namespace bagnet {

// Where Debian's package puts the data set.
inline const std::string fashion_mnist_dir = "/usr/share/datasets/fashion-mnist";

// Split "train" (60000 images) or "test" (10000), pixels in [0, 1].
inline LabelledImages load_fashion_mnist(const std::string& split, const std::string& dir = fashion_mnist_dir) {
    require(split == "train" || split == "test", "unknown Fashion-MNIST split '" + split + "' (expected train or test)");
    const std::string prefix = dir + "/" + (split == "train" ? "train" : "t10k");
    return load_idx(prefix + "-images-idx3-ubyte.gz", prefix + "-labels-idx1-ubyte.gz");
}

// The per-pixel normalisation the Fashion-MNIST models are trained with.
// Fashion-MNIST's pixel mean and standard deviation (of values in [0, 1]).
constexpr float fashion_mnist_mean = 0.2860f, fashion_mnist_std = 0.3530f;
// A black pixel (the background) after normalisation.
constexpr float fashion_mnist_background = -fashion_mnist_mean / fashion_mnist_std;

// Fashion-MNIST's classes, by label.
inline const std::vector<std::string>& fashion_mnist_class_names() {
    static const std::vector<std::string> names{"T-shirt/top", "trouser", "pullover", "dress", "coat",
                                                "sandal",      "shirt",   "sneaker",  "bag",   "ankle boot"};
    return names;
}

inline void normalize_fashion_mnist(Tensor4& images) {
    for (auto& v : images) v = (v - fashion_mnist_mean) / fashion_mnist_std;
}

namespace data {

// One split, normalised, as a data set that owns its images (items named "test 17",
// classes by their names), each item augmented by `augment`. It stays where it was
// made: its items refer to the images it holds.
class FashionMnist : public Dataset {
public:
    explicit FashionMnist(const std::string& split, TensorAugment augment = {},
                          const std::string& dir = fashion_mnist_dir)
        : data_(normalised(load_fashion_mnist(split, dir))),
          items_(data_.images, data_.labels, augment, split, fashion_mnist_class_names()) {}
    FashionMnist(const FashionMnist&) = delete;
    FashionMnist& operator=(const FashionMnist&) = delete;

    // The normalised images and their labels.
    const LabelledImages& images() const { return data_; }

    std::size_t size() const override { return items_.size(); }
    std::int64_t label(std::size_t index) const override { return items_.label(index); }
    std::string name(std::size_t index) const override { return items_.name(index); }
    ItemShape shape() const override { return items_.shape(); }
    void load(std::size_t index, Random& rng, float* out) const override { items_.load(index, rng, out); }
    const std::vector<std::string>& class_names() const override { return items_.class_names(); }

private:
    static LabelledImages normalised(LabelledImages data) {
        normalize_fashion_mnist(data.images);
        return data;
    }

    LabelledImages data_;
    TensorDataset items_;
};

}  // namespace data
}  // namespace bagnet
