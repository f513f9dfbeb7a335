#pragma once
// Batches streamed from a Dataset. A pool of worker threads loads (decodes,
// augments, normalises) the items of the batches that come next, at most
// `prefetch` batches ahead of the one asked for, so memory holds a few batches
// whatever the data set's size. Batches come out in order, and every item's
// random choices are drawn from a generator seeded by (seed, epoch, item index)
// alone: the batches are the same for any number of workers, for a run resumed
// at any batch, and for any split over processes.
//
// Processes (MPI ranks) each take their share of every global batch: with
// options.ranks = N and options.rank = r, batch(e, b) holds items
// [B * r / N, B * (r + 1) / N) of global batch b, B its length; items() gives any
// other part of any batch, gather() any items.
//
// A file that cannot be loaded stops the stream with its error (the first in
// batch order), unless skip_corrupt is set: then it is left out of its batch,
// reported once on stderr and listed by skipped().
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bagnet/data/dataset.hpp"
#include "bagnet/data/random.hpp"
#include "bagnet/data/sampler.hpp"
#include "bagnet/error.hpp"
#include "bagnet/tensor.hpp"

namespace bagnet::data {

struct Batch {
    Tensor4 images;                    // N x C x H x W
    std::vector<std::int64_t> labels;  // N labels
    std::vector<std::size_t> indices;  // N data-set indices (Dataset::name names them)
};

struct StreamOptions {
    std::size_t batch_size = 128;
    bool shuffle = true;
    bool drop_last = true;      // every batch full (batch norm dislikes tiny ones)
    std::uint64_t seed = 0;
    int workers = 1;            // loading threads
    std::size_t prefetch = 2;   // batches prepared ahead of the one being asked for
    bool skip_corrupt = false;  // leave undecodable files out instead of stopping
    int rank = 0, ranks = 1;    // this process's share of every global batch
    StreamOptions& batch(std::size_t n) { batch_size = n; return *this; }
    StreamOptions& shuffled(bool on) { shuffle = on; return *this; }
    StreamOptions& keep_last(bool on) { drop_last = !on; return *this; }
    StreamOptions& seeded(std::uint64_t s) { seed = s; return *this; }
    StreamOptions& with_workers(int n) { workers = n; return *this; }
    StreamOptions& ahead(std::size_t batches) { prefetch = batches; return *this; }
    StreamOptions& skipping_corrupt(bool on) { skip_corrupt = on; return *this; }
    StreamOptions& shard(int r, int n) { rank = r; ranks = n; return *this; }
    // One pass in data-set order, the last short batch kept: evaluation and analyses.
    static StreamOptions in_order(std::size_t batch_size, int workers = 1) {
        return StreamOptions().batch(batch_size).shuffled(false).keep_last(true).with_workers(workers);
    }
};

struct SkippedItem {
    std::size_t index = 0;
    std::string name, error;
};

class BatchStream {
public:
    BatchStream(const Dataset& data, StreamOptions options)
        : data_(data), options_(options),
          sampler_(data.size(), options.batch_size, options.shuffle, options.drop_last, options.seed),
          shape_(data.shape()) {
        require(options.workers >= 1, "the number of loading workers must be at least 1, got " +
                                          std::to_string(options.workers));
        share(options.batch_size, options.rank, options.ranks);  // checks the rank
        for (int w = 0; w < options.workers; ++w) workers_.emplace_back([this] { work(); });
    }
    BatchStream(const BatchStream&) = delete;
    BatchStream& operator=(const BatchStream&) = delete;
    ~BatchStream() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        work_ready_.notify_all();
        for (auto& worker : workers_) worker.join();
    }

    const Dataset& dataset() const { return data_; }
    const StreamOptions& options() const { return options_; }
    std::size_t batches_per_epoch() const { return sampler_.batches_per_epoch(); }

    // This process's share of global batch `index` of `epoch`; the batches after
    // it start loading in the background.
    Batch batch(std::uint64_t epoch, std::size_t index) {
        std::lock_guard<std::mutex> serial(caller_);
        return run({epoch, index}, true, {});
    }
    // Items [begin, end) of global batch `index` of `epoch`, loaded now.
    Batch items(std::uint64_t epoch, std::size_t index, std::size_t begin, std::size_t end) {
        std::lock_guard<std::mutex> serial(caller_);
        std::vector<std::size_t> chosen;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            chosen = sampler_.items(epoch, index, begin, end);
        }
        return run({epoch, index}, false, std::move(chosen));
    }
    // The items with these data-set indices, with the random choices of `epoch`, loaded now.
    Batch gather(std::uint64_t epoch, std::vector<std::size_t> indices) {
        std::lock_guard<std::mutex> serial(caller_);
        for (std::size_t i : indices)
            require(i < data_.size(), "item " + std::to_string(i) + " is not among the data set's " +
                                          std::to_string(data_.size()));
        return run({epoch, 0}, false, std::move(indices));
    }

    // Every file left out so far (once each, in data-set order).
    std::vector<SkippedItem> skipped() const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<SkippedItem> out;
        for (const auto& entry : skipped_) out.push_back(entry.second);
        return out;
    }

private:
    struct Key {
        std::uint64_t epoch = 0;
        std::size_t batch = 0;
        bool operator==(const Key& o) const { return epoch == o.epoch && batch == o.batch; }
    };
    struct Outcome {
        std::string error;         // a bagnet::Error: a bad file
        std::exception_ptr fatal;  // anything else (out of memory): never skipped
    };
    // One batch being loaded: workers claim its items in order (`next`) and count
    // them off (`done`); each writes only its own item's rows of `images`.
    struct Slot {
        Key key;
        bool sequential = false;
        std::vector<std::size_t> indices;
        Tensor4 images;
        std::vector<Outcome> outcomes;
        std::size_t next = 0, done = 0;
    };

    // Called with mutex_ held.
    std::shared_ptr<Slot> make_slot(const Key& key, bool sequential, std::vector<std::size_t> indices) {
        auto slot = std::make_shared<Slot>();
        slot->key = key;
        slot->sequential = sequential;
        if (sequential) {
            const auto [begin, end] = share(sampler_.batch_length(key.batch), options_.rank, options_.ranks);
            indices = sampler_.items(key.epoch, key.batch, begin, end);
        }
        slot->indices = std::move(indices);
        slot->images = Tensor4::from_shape({slot->indices.size(), shape_.channels, shape_.height, shape_.width});
        slot->outcomes.resize(slot->indices.size());
        return slot;
    }

    // Called with mutex_ held: the window holds the next prefetch + 1 sequential batches.
    void top_up() {
        while (!window_.empty() && window_.back()->sequential && window_.size() < options_.prefetch + 1) {
            Key next = window_.back()->key;
            if (++next.batch == sampler_.batches_per_epoch()) next = {next.epoch + 1, 0};
            window_.push_back(make_slot(next, true, {}));
        }
    }

    Batch run(const Key& key, bool sequential, std::vector<std::size_t> indices) {
        std::shared_ptr<Slot> slot;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            const bool prepared = sequential && !window_.empty() && window_.front()->sequential &&
                                  window_.front()->key == key;
            if (!prepared) {
                // Work already claimed finishes into slots nobody waits for; the rest is dropped.
                window_.clear();
                window_.push_back(make_slot(key, sequential, std::move(indices)));
            }
            top_up();
            work_ready_.notify_all();
            slot = window_.front();
            slot_done_.wait(lock, [&] { return slot->done == slot->indices.size(); });
            window_.pop_front();
            top_up();
            if (!window_.empty()) work_ready_.notify_all();
        }
        return collect(*slot);
    }

    Batch collect(Slot& slot) {
        for (const Outcome& outcome : slot.outcomes)
            if (outcome.fatal) std::rethrow_exception(outcome.fatal);
        std::vector<std::size_t> kept;
        for (std::size_t k = 0; k < slot.indices.size(); ++k) {
            const std::string& error = slot.outcomes[k].error;
            if (error.empty()) {
                kept.push_back(k);
                continue;
            }
            if (!options_.skip_corrupt)
                throw Error(error + " (StreamOptions::skipping_corrupt skips such images)", Remedy::skip_undecodable);
            std::lock_guard<std::mutex> lock(mutex_);
            const std::size_t index = slot.indices[k];
            if (skipped_.emplace(index, SkippedItem{index, data_.name(index), error}).second)
                std::fprintf(stderr, "bagnet: warning: skipping %s: %s\n", data_.name(index).c_str(), error.c_str());
        }
        Batch batch;
        for (std::size_t k : kept) {
            batch.indices.push_back(slot.indices[k]);
            batch.labels.push_back(data_.label(slot.indices[k]));
        }
        if (kept.size() == slot.indices.size()) {
            batch.images = std::move(slot.images);
            return batch;
        }
        const std::size_t item = shape_.size();
        batch.images = Tensor4::from_shape({kept.size(), shape_.channels, shape_.height, shape_.width});
        for (std::size_t n = 0; n < kept.size(); ++n)
            std::copy(slot.images.data() + kept[n] * item, slot.images.data() + (kept[n] + 1) * item,
                      batch.images.data() + n * item);
        return batch;
    }

    void work() {
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;) {
            std::shared_ptr<Slot> slot;
            work_ready_.wait(lock, [&] {
                if (stopping_) return true;
                for (const auto& s : window_)
                    if (s->next < s->indices.size()) return true;
                return false;
            });
            if (stopping_) return;
            for (const auto& s : window_)
                if (s->next < s->indices.size()) {
                    slot = s;
                    break;
                }
            const std::size_t k = slot->next++;
            const std::size_t index = slot->indices[k];
            const std::uint64_t epoch = slot->key.epoch;
            float* out = slot->images.data() + k * shape_.size();
            lock.unlock();
            Outcome outcome;
            try {
                Random rng(stream_seed(options_.seed, Purpose::item, epoch, index));
                data_.load(index, rng, out);
            } catch (const Error& e) {
                outcome.error = e.what();
            } catch (...) {
                outcome.fatal = std::current_exception();
            }
            lock.lock();
            slot->outcomes[k] = std::move(outcome);
            if (++slot->done == slot->indices.size()) slot_done_.notify_all();
        }
    }

    const Dataset& data_;
    StreamOptions options_;
    Sampler sampler_;  // guarded by mutex_ (its order cache)
    ItemShape shape_;
    std::mutex caller_;  // one request at a time
    mutable std::mutex mutex_;
    std::condition_variable work_ready_, slot_done_;
    std::deque<std::shared_ptr<Slot>> window_;
    std::map<std::size_t, SkippedItem> skipped_;
    bool stopping_ = false;
    std::vector<std::thread> workers_;
};

}  // namespace bagnet::data
