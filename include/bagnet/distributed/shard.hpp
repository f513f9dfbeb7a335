#pragma once
// Sharing a pass over a data set between processes (evaluation and the data-set
// analyses), with results that do not depend on how many processes computed them.
//
// The data set is cut into batches as one process would cut it, and batch b goes
// to process b mod N whole: every image is computed in the same batch, with the
// same neighbours, as by one process, so every number comes out the same. Each
// process turns its batches into results (bytes, see serialization.hpp), and the
// first process gets them all in batch order, as one process would have made them.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "bagnet/config.hpp"
#include "bagnet/data/stream.hpp"
#include "bagnet/distributed/communicator.hpp"
#include "bagnet/distributed/serialization.hpp"

namespace bagnet::distributed {

// The items of the batches (of `batch` items, in order) that process `rank` of
// `ranks` computes, as a data set of their own; global() maps its indices back.
class BatchShard : public data::Dataset {
public:
    BatchShard(const data::Dataset& all, std::size_t batch, int rank, int ranks) : all_(all) {
        require(batch >= 1, "the batch size must be at least 1");
        for (std::size_t begin = batch * std::size_t(rank); begin < all.size(); begin += batch * std::size_t(ranks))
            for (std::size_t i = begin; i < std::min(all.size(), begin + batch); ++i) items_.push_back(i);
    }
    std::size_t global(std::size_t index) const { return items_[index]; }

    std::size_t size() const override { return items_.size(); }
    std::int64_t label(std::size_t index) const override { return all_.label(items_[index]); }
    std::string name(std::size_t index) const override { return all_.name(items_[index]); }
    data::ItemShape shape() const override { return all_.shape(); }
    void load(std::size_t index, data::Random& rng, float* out) const override { all_.load(items_[index], rng, out); }
    const std::vector<std::string>& class_names() const override { return all_.class_names(); }

private:
    const data::Dataset& all_;
    std::vector<std::size_t> items_;
};

// Every process's list of parts (one per unit of work it did, unit u of process r
// being unit r + u N of the whole), on the first process in unit order; empty on
// the others.
inline std::vector<std::string> gather_in_order(const std::vector<std::string>& mine, Communicator& processes) {
    Writer packed;
    packed.number(std::uint64_t(mine.size()));
    for (const auto& part : mine) packed.text(part);
    const std::vector<std::string> all = processes.gather(packed.bytes(), 0);
    if (all.empty()) return {};  // not the first process
    std::vector<std::vector<std::string>> by_process;
    for (const auto& bytes : all) {
        Reader reader(bytes);
        std::vector<std::string> parts(std::size_t(reader.number<std::uint64_t>()));
        for (auto& part : parts) part = reader.text();
        by_process.push_back(std::move(parts));
    }
    std::vector<std::string> ordered;
    // Earlier processes have as many units as later ones, or one more.
    for (std::size_t unit = 0;; ++unit) {
        const auto& parts = by_process[unit % by_process.size()];
        const std::size_t k = unit / by_process.size();
        if (k >= parts.size()) break;
        ordered.push_back(parts[k]);
    }
    return ordered;
}

// Every process's skipped files (`global` maps their indices to the data set's), on
// the first process, in data-set order.
template <class Global>
std::vector<data::SkippedItem> gather_skipped(const std::vector<data::SkippedItem>& mine, Global&& global,
                                              Communicator& processes) {
    Writer out;
    for (const data::SkippedItem& item : mine) out.number(std::uint64_t(global(item.index))).text(item.name).text(item.error);
    std::vector<data::SkippedItem> all;
    for (const std::string& list : processes.gather(out.bytes(), 0))
        for (Reader in(list); !in.done();) {
            data::SkippedItem item;
            item.index = std::size_t(in.number<std::uint64_t>());
            item.name = in.text();
            item.error = in.text();
            all.push_back(std::move(item));
        }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.index < b.index; });
    return all;
}

// How map_batches reads the data set: batches of `batch` images on `workers` loading
// threads; with skip_corrupt, files that cannot be loaded are left out and listed.
struct ShardOptions {
    std::size_t batch = config::analysis_batch;
    int workers = 1;
    bool skip_corrupt = false;
};

// Runs work(batch) -> bytes on this process's batches of `data` (see above; batch.indices
// are indices of `data`), and returns on the first process every batch's bytes in batch
// order. `skipped`, when given, receives on the first process every file left out, in
// data-set order.
template <class Work>
std::vector<std::string> map_batches(const data::Dataset& data, const ShardOptions& options, Communicator& processes,
                                     Work&& work, std::vector<data::SkippedItem>* skipped = nullptr) {
    const BatchShard shard(data, options.batch, processes.rank(), processes.size());
    std::vector<std::string> mine;
    std::vector<data::SkippedItem> left_out;
    processes.guard([&] {
        if (shard.size() == 0) return;  // fewer batches than processes
        data::BatchStream stream(shard, data::StreamOptions::in_order(options.batch, options.workers)
                                            .skipping_corrupt(options.skip_corrupt));
        for (std::size_t b = 0; b < stream.batches_per_epoch(); ++b) {
            data::Batch part = stream.batch(0, b);
            for (auto& index : part.indices) index = shard.global(index);
            mine.push_back(work(part));
        }
        left_out = stream.skipped();
    });
    std::vector<std::string> ordered = gather_in_order(mine, processes);
    auto all_skipped = gather_skipped(left_out, [&](std::size_t i) { return shard.global(i); }, processes);
    if (skipped) *skipped = std::move(all_skipped);
    return ordered;
}

// Runs work(i) -> bytes for the units i < count that are this process's (i mod N),
// and returns on the first process every unit's bytes in order.
template <class Work>
std::vector<std::string> map_units(std::size_t count, Communicator& processes, Work&& work) {
    std::vector<std::string> mine;
    processes.guard([&] {
        for (std::size_t i = std::size_t(processes.rank()); i < count; i += std::size_t(processes.size()))
            mine.push_back(work(i));
    });
    return gather_in_order(mine, processes);
}

// The first process's values of `tensors` (same keys and shapes everywhere), on every process.
inline void broadcast_tensors(std::map<std::string, Tensor>& tensors, Communicator& processes) {
    if (processes.size() == 1) return;
    std::vector<float> packed;
    for (const auto& [key, value] : tensors) packed.insert(packed.end(), value.begin(), value.end());
    double count = double(packed.size()), first = count;
    processes.broadcast(&first, sizeof first, 0);
    require(first == count, "the processes hold different tensors (" + std::to_string(std::size_t(first)) + " and " +
                                std::to_string(packed.size()) + " values)");
    if (packed.empty()) return;
    processes.broadcast(packed.data(), packed.size() * sizeof(float), 0);
    std::size_t offset = 0;
    for (auto& [key, value] : tensors) {
        std::copy_n(packed.begin() + std::ptrdiff_t(offset), value.size(), value.begin());
        offset += value.size();
    }
}

}  // namespace bagnet::distributed
