#pragma once
// Which items make batch b of epoch e: the epoch's order is a pure function of
// (seed, epoch) (a Fisher-Yates shuffle driven by its own random stream), and
// batch b is positions [b * batch_size, (b + 1) * batch_size) of it. Nothing
// depends on what was asked before, so any batch can be asked for at any time
// (a resumed run, or one process of several).
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#include "bagnet/data/random.hpp"
#include "bagnet/error.hpp"

namespace bagnet::data {

// Item order of `epoch` over n items: 0..n-1, shuffled when asked.
inline std::vector<std::size_t> epoch_order(std::size_t n, bool shuffle, std::uint64_t seed, std::uint64_t epoch) {
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t(0));
    if (!shuffle) return order;
    Random rng(stream_seed(seed, Purpose::order, epoch, 0));
    for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[std::size_t(rng.below(i))]);
    return order;
}

// Part `rank` of `ranks` equal parts of `count` items: [begin, end), the first
// parts one item shorter when count does not divide evenly.
inline std::pair<std::size_t, std::size_t> share(std::size_t count, int rank, int ranks) {
    require(ranks >= 1 && rank >= 0 && rank < ranks,
            "share: rank " + std::to_string(rank) + " of " + std::to_string(ranks) + " processes");
    return {count * std::size_t(rank) / std::size_t(ranks), count * std::size_t(rank + 1) / std::size_t(ranks)};
}

class Sampler {
public:
    Sampler(std::size_t items, std::size_t batch_size, bool shuffle, bool drop_last, std::uint64_t seed)
        : items_(items), batch_size_(batch_size), shuffle_(shuffle), drop_last_(drop_last), seed_(seed) {
        require(batch_size >= 1, "the batch size must be at least 1");
        require(items >= 1, "the data set is empty: it has no images");
        require(batches_per_epoch() >= 1, "the data set has " + std::to_string(items) +
                                              " images, fewer than one batch of " + std::to_string(batch_size));
    }

    std::size_t batches_per_epoch() const {
        return drop_last_ ? items_ / batch_size_ : (items_ + batch_size_ - 1) / batch_size_;
    }
    // Items in batch `index` (all batch_size but a kept short last one).
    std::size_t batch_length(std::size_t index) const {
        return std::min(batch_size_, items_ - std::min(items_, index * batch_size_));
    }
    // The data-set indices of items [begin, end) of batch `index` of `epoch`.
    std::vector<std::size_t> items(std::uint64_t epoch, std::size_t index, std::size_t begin, std::size_t end) const {
        require(index < batches_per_epoch() && begin <= end && end <= batch_length(index),
                "batch " + std::to_string(index) + " items [" + std::to_string(begin) + ", " + std::to_string(end) +
                    ") are outside the epoch's " + std::to_string(batches_per_epoch()) + " batches of " +
                    std::to_string(batch_size_));
        if (epoch != cached_epoch_ || order_.empty()) {
            order_ = epoch_order(items_, shuffle_, seed_, epoch);
            cached_epoch_ = epoch;
        }
        const auto first = order_.begin() + std::ptrdiff_t(index * batch_size_);
        return {first + std::ptrdiff_t(begin), first + std::ptrdiff_t(end)};
    }

private:
    std::size_t items_, batch_size_;
    bool shuffle_, drop_last_;
    std::uint64_t seed_;
    // A cache of the last epoch's order (callers serialise access).
    mutable std::vector<std::size_t> order_;
    mutable std::uint64_t cached_epoch_ = 0;
};

}  // namespace bagnet::data
