#pragma once
// A data set: labelled items that can be loaded one at a time, each already
// transformed (decoded, augmented, normalised) into C x H x W floats of one
// shape. The streaming pipeline (bagnet/data/stream.hpp) loads items on worker
// threads, so load() must be safe to call from several threads at once.
//
// bagnet/data/tensor_dataset.hpp has the in-memory kind (Fashion-MNIST, npy
// arrays), bagnet/data/image_folder.hpp the kind that reads image files.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "bagnet/data/random.hpp"
#include "bagnet/error.hpp"
#include "bagnet/tensor.hpp"

namespace bagnet::data {

struct ItemShape {
    std::size_t channels = 0, height = 0, width = 0;
    std::size_t size() const { return channels * height * width; }
    bool operator==(const ItemShape& o) const { return channels == o.channels && height == o.height && width == o.width; }
};

class Dataset {
public:
    virtual ~Dataset() = default;
    virtual std::size_t size() const = 0;
    virtual std::int64_t label(std::size_t index) const = 0;  // -1: unlabelled
    virtual std::string name(std::size_t index) const = 0;    // a file's path, or "test 17"
    virtual ItemShape shape() const = 0;                      // of every item
    // Item `index` as shape() floats at `out`, its random choices drawn from `rng`.
    // Throws bagnet::Error naming the item when it cannot be loaded.
    virtual void load(std::size_t index, Random& rng, float* out) const = 0;
    // Class names by label, when the data set has them (else empty).
    virtual const std::vector<std::string>& class_names() const {
        static const std::vector<std::string> none;
        return none;
    }
};

// The first `count` items of another data set (which must outlive it).
class FirstItems : public Dataset {
public:
    FirstItems(const Dataset& all, std::size_t count) : all_(all), count_(std::min(count, all.size())) {}
    std::size_t size() const override { return count_; }
    std::int64_t label(std::size_t index) const override { return all_.label(index); }
    std::string name(std::size_t index) const override { return all_.name(index); }
    ItemShape shape() const override { return all_.shape(); }
    void load(std::size_t index, Random& rng, float* out) const override { all_.load(index, rng, out); }
    const std::vector<std::string>& class_names() const override { return all_.class_names(); }

private:
    const Dataset& all_;
    std::size_t count_;
};

// Checks every label against the class count before any work: one line naming the first bad one.
inline void check_labels(const Dataset& data, int classes, const std::string& source) {
    for (std::size_t i = 0; i < data.size(); ++i) {
        const std::int64_t label = data.label(i);
        require(label >= 0 && label < classes, source + ": label " + std::to_string(label) + " of image " +
                                                   std::to_string(i) + " is out of range for " +
                                                   std::to_string(classes) + " classes (" + data.name(i) + ")");
    }
}

}  // namespace bagnet::data
