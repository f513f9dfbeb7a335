#pragma once
// How alike two models decide: per image, the Pearson correlation of their logit
// vectors over the classes, the measure by which Brendel & Bethge (2019) compare
// BagNets with standard CNNs (1: the two spread the classes identically, up to
// scale and offset). Over a data set, shared between processes like any analysis.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "bagnet/distributed/shard.hpp"
#include "bagnet/inference.hpp"

namespace bagnet {

// Pearson correlation of a[0 .. n) and b[0 .. n), in double; 0 where either is constant.
inline double pearson_correlation(const float* a, const float* b, std::size_t n) {
    double mean_a = 0, mean_b = 0;
    for (std::size_t i = 0; i < n; ++i) {
        mean_a += a[i];
        mean_b += b[i];
    }
    mean_a /= double(n);
    mean_b /= double(n);
    double ab = 0, aa = 0, bb = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double da = a[i] - mean_a, db = b[i] - mean_b;
        ab += da * db;
        aa += da * da;
        bb += db * db;
    }
    return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0.0;
}

// Two models whose logits can be correlated: as many classes.
inline void require_comparable(const Architecture& first, const Architecture& second) {
    require(first.classes() == second.classes(), "cannot correlate " + first.name + " (" +
                                                     std::to_string(first.classes()) + " classes) with " +
                                                     second.name + " (" + std::to_string(second.classes()) +
                                                     " classes)");
}

// Per image of a batch, the correlation of the two models' logits.
template <class A, class B>
std::vector<double> logit_correlations(const Model<A>& first, const Model<B>& second, const Tensor4& images) {
    require_comparable(first.architecture(), second.architecture());
    const Tensor2 a = logits(first, images), b = logits(second, images);
    const std::size_t classes = a.shape()[1];
    std::vector<double> r;
    for (std::size_t i = 0; i < a.shape()[0]; ++i)
        r.push_back(pearson_correlation(a.data() + i * classes, b.data() + i * classes, classes));
    return r;
}

// The same over a data set, in data-set order (files skipped as corrupt left out); every
// process gets the whole list.
template <class A, class B>
std::vector<double> logit_correlations(const Model<A>& first, const Model<B>& second, const data::Dataset& data,
                                       const distributed::ShardOptions& options, distributed::Communicator& processes,
                                       std::vector<data::SkippedItem>* skipped = nullptr) {
    require_comparable(first.architecture(), second.architecture());  // before any image is read
    const auto parts = distributed::map_batches(data, options, processes, [&](const data::Batch& batch) {
        distributed::Writer out;
        const std::vector<double> r = logit_correlations(first, second, batch.images);
        out.number(std::uint64_t(r.size()));
        for (double v : r) out.number(v);
        return out.bytes();
    }, skipped);
    std::vector<double> all;
    for (const std::string& part : parts) {
        distributed::Reader in(part);
        const auto count = in.number<std::uint64_t>();
        for (std::uint64_t i = 0; i < count; ++i) all.push_back(in.number<double>());
    }
    std::uint64_t count = all.size();
    processes.broadcast(&count, sizeof count, 0);
    all.resize(std::size_t(count));
    processes.broadcast(all.data(), all.size() * sizeof(double), 0);
    return all;
}

// What `bagnet correlate` prints of the correlations: their mean and median (the middle
// value, sorted[n / 2]: the upper of the two middle ones for an even count).
struct CorrelationSummary {
    double mean = 0, median = 0;
    std::size_t images = 0;
};

inline CorrelationSummary correlation_summary(std::vector<double> r) {
    require(!r.empty(), "no images to correlate");
    CorrelationSummary s;
    s.images = r.size();
    s.mean = std::accumulate(r.begin(), r.end(), 0.0) / double(r.size());
    std::sort(r.begin(), r.end());
    s.median = r[r.size() / 2];
    return s;
}

}  // namespace bagnet
