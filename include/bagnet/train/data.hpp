#pragma once
// Batches for training: a shuffled, optionally augmented walk over images held
// in memory, with the next batch prepared on a background thread while the
// current one trains.
//
// Every random choice (the order, each crop and flip) is a function of the seed,
// the epoch and the batch index alone, so a run resumed at any step sees exactly
// the batches an uninterrupted run would have seen.
#include <algorithm>
#include <cstdint>
#include <future>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "bagnet/error.hpp"
#include "bagnet/io/idx.hpp"
#include "bagnet/tensor.hpp"

namespace bagnet::train {

struct Batch {
    Tensor4 images;
    std::vector<std::int64_t> labels;
};

struct LoaderOptions {
    std::size_t batch_size = 128;
    bool shuffle = true;
    bool drop_last = true;  // every step sees a full batch (batch norm dislikes tiny ones)
    int crop_padding = 0;   // random crop of the image padded by this many pixels; 0: none
    bool flip = false;      // random horizontal flip
    float fill = 0.f;       // value of the padding (the normalised background)
    LoaderOptions& batch(std::size_t n) { batch_size = n; return *this; }
    LoaderOptions& shuffled(bool on) { shuffle = on; return *this; }
    LoaderOptions& keep_last(bool on) { drop_last = !on; return *this; }
    LoaderOptions& random_crop(int padding, float value) { crop_padding = padding; fill = value; return *this; }
    LoaderOptions& random_flip(bool on) { flip = on; return *this; }
};

// Images begin..end of a batch, copied (cheaper to compile than an xtensor view).
inline Tensor4 slice_batch(const Tensor4& x, std::size_t begin, std::size_t end) {
    Tensor4 out = Tensor4::from_shape({end - begin, x.shape()[1], x.shape()[2], x.shape()[3]});
    const std::size_t per_image = x.size() / std::max<std::size_t>(1, x.shape()[0]);
    std::copy(x.data() + begin * per_image, x.data() + end * per_image, out.data());
    return out;
}

// Checks labels against the class count: one clear line naming the first bad one.
inline void check_labels(const LabelledImages& data, int classes, const std::string& source) {
    require(data.images.shape()[0] == data.labels.size(),
            source + ": " + std::to_string(data.images.shape()[0]) + " images but " + std::to_string(data.labels.size()) +
                " labels");
    for (std::size_t i = 0; i < data.labels.size(); ++i)
        require(data.labels[i] >= 0 && data.labels[i] < classes,
                source + ": label " + std::to_string(data.labels[i]) + " of image " + std::to_string(i) +
                    " is out of range for " + std::to_string(classes) + " classes");
}

class BatchLoader {
public:
    BatchLoader(const LabelledImages& data, LoaderOptions options, std::uint64_t seed)
        : data_(data), options_(options), seed_(seed) {
        require(options.batch_size >= 1, "the batch size must be at least 1");
        require(data.images.shape()[0] == data.labels.size(), "the data set has " +
                                                                 std::to_string(data.images.shape()[0]) + " images but " +
                                                                 std::to_string(data.labels.size()) + " labels");
        require(batches_per_epoch() >= 1, "the data set has " + std::to_string(data.labels.size()) +
                                              " images, fewer than one batch of " + std::to_string(options.batch_size));
    }
    BatchLoader(const BatchLoader&) = delete;
    BatchLoader& operator=(const BatchLoader&) = delete;
    ~BatchLoader() {
        if (pending_.valid()) pending_.wait();
    }

    std::size_t batches_per_epoch() const {
        const std::size_t n = data_.labels.size(), b = options_.batch_size;
        return options_.drop_last ? n / b : (n + b - 1) / b;
    }
    const LabelledImages& data() const { return data_; }
    std::uint64_t seed() const { return seed_; }

    // Batch `index` of `epoch`; the following one starts preparing in the background.
    Batch batch(std::uint64_t epoch, std::size_t index) {
        require(index < batches_per_epoch(), "batch index out of range");
        const bool prepared = pending_.valid() && pending_key_ == std::make_pair(epoch, index);
        Batch result;
        if (pending_.valid()) {
            Batch ready = pending_.get();  // also: no background work may race with make() below
            if (prepared) result = std::move(ready);
        }
        if (!prepared) result = make(epoch, index);
        const bool last = index + 1 == batches_per_epoch();
        pending_key_ = last ? std::make_pair(epoch + 1, std::size_t(0)) : std::make_pair(epoch, index + 1);
        pending_ = std::async(std::launch::async, [this, key = pending_key_] { return make(key.first, key.second); });
        return result;
    }

private:
    std::vector<std::size_t> order(std::uint64_t epoch) const {
        std::vector<std::size_t> indices(data_.labels.size());
        std::iota(indices.begin(), indices.end(), std::size_t(0));
        if (options_.shuffle) {
            std::mt19937_64 rng(seed_ * 0x9E3779B97F4A7C15ull + epoch);
            std::shuffle(indices.begin(), indices.end(), rng);
        }
        return indices;
    }

    Batch make(std::uint64_t epoch, std::size_t index) const {
        if (epoch != cached_epoch_ || order_.empty()) {
            order_ = order(epoch);
            cached_epoch_ = epoch;
        }
        const std::size_t begin = index * options_.batch_size;
        const std::size_t end = std::min(begin + options_.batch_size, order_.size());
        const auto& s = data_.images.shape();
        const std::size_t c = s[1], h = s[2], w = s[3], plane = h * w;
        Batch batch;
        batch.images = Tensor4::from_shape({end - begin, c, h, w});
        std::mt19937_64 rng((seed_ + 1) * 0xD1B54A32D192ED03ull ^ (epoch << 32) ^ index);
        const int pad = options_.crop_padding;
        std::uniform_int_distribution<int> shift(-pad, pad);
        std::bernoulli_distribution coin(0.5);
        for (std::size_t i = begin; i < end; ++i) {
            const std::size_t source = order_[i];
            batch.labels.push_back(data_.labels[source]);
            const int dy = pad ? shift(rng) : 0, dx = pad ? shift(rng) : 0;
            const bool flip = options_.flip && coin(rng);
            for (std::size_t ch = 0; ch < c; ++ch) {
                const float* from = data_.images.data() + (source * c + ch) * plane;
                float* to = batch.images.data() + ((i - begin) * c + ch) * plane;
                for (std::size_t y = 0; y < h; ++y)
                    for (std::size_t x = 0; x < w; ++x) {
                        const long sy = long(y) + dy, sx = long(flip ? w - 1 - x : x) + dx;
                        const bool inside = sy >= 0 && sy < long(h) && sx >= 0 && sx < long(w);
                        to[y * w + x] = inside ? from[std::size_t(sy) * w + std::size_t(sx)] : options_.fill;
                    }
            }
        }
        return batch;
    }

    const LabelledImages& data_;
    LoaderOptions options_;
    std::uint64_t seed_;
    // Only the background task or the caller touches these, never both at once.
    mutable std::vector<std::size_t> order_;
    mutable std::uint64_t cached_epoch_ = 0;
    std::future<Batch> pending_;
    std::pair<std::uint64_t, std::size_t> pending_key_{};
};

}  // namespace bagnet::train
