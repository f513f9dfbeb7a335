#pragma once
// The paper's attribution benchmark: a BagNet's exact evidence is ground truth for
// what an attribution method should find. A method is scored three ways:
// - rank correlation: how well its scores of image regions (tile sums) rank the
//   regions as the exact per-pixel evidence does;
// - patch deletion: the class logit is the mean of the patches' evidence, so
//   removing patches (their evidence) in the order a method ranks them (its
//   attribution summed over each patch) gives an exact deletion curve; the exact
//   evidence's own order is the best possible by construction and its reverse the
//   worst, and the score places the method's curve between them (1 best, 0 worst);
// - pixel deletion (secondary): the logit's fall when pixels are masked in the
//   method's order, re-running the network. Masking a pixel changes every patch
//   over it, so this measures something other than the exact evidence predicts,
//   and the exact evidence need not win it.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "bagnet/data/dataset.hpp"
#include "bagnet/distributed/shard.hpp"
#include "bagnet/explain/heatmap.hpp"
#include "bagnet/explain/masking.hpp"
#include "bagnet/instances.hpp"

namespace bagnet {

// An attribution method: H x W support of `class_index` in a 1 x C x H x W image,
// and optionally its own scores of the logit map's patches (H' x W'); without
// them a patch scores the sum of the attribution over its q x q pixels.
struct AttributionMethod {
    using Attribute = std::function<Tensor(const Tensor4& image, int class_index)>;
    std::string name;
    Attribute attribute;
    Attribute patch_scores = {};
};

// The ground truth: the exact per-pixel evidence (the dense heatmap), and per patch
// its logit (the coarse map).
template <class Backend>
AttributionMethod exact_evidence(const Model<Backend>& model) {
    return {"exact evidence (BagNet)",
            [&model](const Tensor4& image, int c) {
                return Tensor(xt::view(dense_heatmap(model, image, c).evidence, 0, 0));
            },
            [&model](const Tensor4& image, int c) {
                return Tensor(xt::view(coarse_heatmap(model, image, c).evidence, 0, 0));
            }};
}

template <class Backend>
AttributionMethod occlusion_method(const Model<Backend>& model, int window, int stride) {
    return {"occlusion " + std::to_string(window) + "px/" + std::to_string(stride),
            [&model, window, stride](const Tensor4& image, int c) {
                return Tensor(xt::view(occlusion(model, image, c, window, stride), 0));
            }};
}

// A floor to compare against: random scores.
inline AttributionMethod random_attribution(std::uint64_t seed = 0) {
    return {"random", [seed](const Tensor4& image, int) {
                std::mt19937_64 rng(seed);
                std::uniform_real_distribution<float> uniform;
                Tensor out = Tensor::from_shape({image.shape()[2], image.shape()[3]});
                for (auto& v : out) v = uniform(rng);
                return out;
            }};
}

// The image cut into tile x tile regions (ragged at the far edges).
inline std::vector<Region> tiles(int height, int width, int tile) {
    std::vector<Region> out;
    for (int y = 0; y < height; y += tile)
        for (int x = 0; x < width; x += tile) out.push_back({y, x, std::min(tile, height - y), std::min(tile, width - x)});
    return out;
}

inline std::vector<double> region_sums(const Tensor& map, const std::vector<Region>& regions) {
    std::vector<double> sums;
    for (const auto& r : regions) {
        double sum = 0;
        for (int y = r.y; y < r.y + r.height; ++y)
            for (int x = r.x; x < r.x + r.width; ++x) sum += map(y, x);
        sums.push_back(sum);
    }
    return sums;
}

// A pixel attribution summed over each patch of the logit map (H' x W'): the patch
// at (i, j) covers pixels [s i, s i + q) x [s j, s j + q).
inline Tensor patch_sums(const Tensor& attribution, const Architecture& arch) {
    const int height = int(attribution.shape()[0]), width = int(attribution.shape()[1]);
    const int q = arch.patch_size, s = output_stride(arch);
    const std::size_t rows = std::size_t(arch.map_size(height)), cols = std::size_t(arch.map_size(width));
    std::vector<Region> patches;
    for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < cols; ++j) patches.push_back({s * int(i), s * int(j), q, q});
    const std::vector<double> sums = region_sums(attribution, patches);
    Tensor out = Tensor::from_shape({rows, cols});
    std::copy(sums.begin(), sums.end(), out.begin());
    return out;
}

// The mean fall of the class logit while the patches are removed in the order of
// `scores` (highest first), in `steps` equal increments: removing a patch takes
// its evidence out of the mean, so each fall is exact. `evidence`: the class's
// logit map (H' x W').
inline double patch_deletion_area(const Tensor& evidence, const Tensor& scores, int steps) {
    std::vector<std::size_t> order(evidence.size());
    std::iota(order.begin(), order.end(), std::size_t(0));
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return scores.data()[a] > scores.data()[b]; });
    double area = 0, removed = 0;
    std::size_t done = 0;
    for (int step = 1; step < steps; ++step) {
        const std::size_t target = order.size() * std::size_t(step) / std::size_t(steps);
        for (; done < target; ++done) removed += evidence.data()[order[done]];
        area += removed / double(order.size());
    }
    return area / double(steps - 1);
}

// Where the method's patch-deletion curve lies between the worst order (the exact
// evidence reversed: 0) and the best (the exact evidence's: 1).
inline double patch_deletion_score(const Tensor& evidence, const Tensor& scores, int steps) {
    const double best = patch_deletion_area(evidence, evidence, steps);
    const double worst = patch_deletion_area(evidence, Tensor(-evidence), steps);
    return best > worst ? (patch_deletion_area(evidence, scores, steps) - worst) / (best - worst) : 1.0;
}

// Spearman's rank correlation (average ranks for ties).
inline double rank_correlation(const std::vector<double>& a, const std::vector<double>& b) {
    const auto ranks = [](const std::vector<double>& v) {
        std::vector<std::size_t> order(v.size());
        std::iota(order.begin(), order.end(), std::size_t(0));
        std::sort(order.begin(), order.end(), [&](std::size_t i, std::size_t j) { return v[i] < v[j]; });
        std::vector<double> r(v.size());
        for (std::size_t i = 0; i < order.size();) {
            std::size_t j = i;
            while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
            for (std::size_t k = i; k <= j; ++k) r[order[k]] = 0.5 * double(i + j);
            i = j + 1;
        }
        return r;
    };
    const auto ra = ranks(a), rb = ranks(b);
    const double mean = 0.5 * double(a.size() - 1);
    double ab = 0, aa = 0, bb = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        ab += (ra[i] - mean) * (rb[i] - mean);
        aa += (ra[i] - mean) * (ra[i] - mean);
        bb += (rb[i] - mean) * (rb[i] - mean);
    }
    return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0.0;
}

// The pixel-deletion score: regions are masked most-supporting first, in `steps`
// equal increments, and the class logit's fall from the original is averaged over
// the partly masked images. Higher: the logit falls faster.
template <class Backend>
double pixel_deletion_score(const Model<Backend>& model, const Tensor4& image, int class_index, const Tensor& attribution,
                     int tile, int steps) {
    const int height = int(image.shape()[2]), width = int(image.shape()[3]);
    const std::vector<Region> regions = tiles(height, width, tile);
    const std::vector<double> scores = region_sums(attribution, regions);
    std::vector<std::size_t> order(regions.size());
    std::iota(order.begin(), order.end(), std::size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
    Tensor4 batch = Tensor4::from_shape({std::size_t(steps) + 1, image.shape()[1], image.shape()[2], image.shape()[3]});
    for (int step = 0; step <= steps; ++step) {
        xt::view(batch, step) = xt::view(image, 0);
        const std::size_t masked = regions.size() * std::size_t(step) / std::size_t(steps);
        for (std::size_t r = 0; r < masked; ++r) mask(batch, std::size_t(step), regions[order[r]]);
    }
    const Tensor2 curve = logits(model, batch);
    double fall = 0;
    for (int step = 1; step < steps; ++step)
        fall += curve(0, std::size_t(class_index)) - curve(std::size_t(step), std::size_t(class_index));
    return fall / double(steps - 1);
}

struct AttributionScore {
    std::string method;
    double rank_correlation = 0;  // mean over images, with the exact evidence's region sums
    double patch_deletion = 0;    // mean over images: 1 the exact evidence's order, 0 its reverse
    double pixel_deletion = 0;    // mean logit fall over images while pixels are masked
    double seconds = 0;           // attribution time per image
};

// Scores every method on every image (for the image's predicted class); the first
// method must be the reference (the exact evidence), whose region sums the rank
// correlations are taken against and whose patch scores are the evidence the patch
// deletion removes.
template <class Backend>
std::vector<AttributionScore> benchmark_attributions(const Model<Backend>& model, const Tensor4& x,
                                                     const std::vector<AttributionMethod>& methods, int tile, int steps) {
    require(!methods.empty(), "no attribution methods to benchmark");
    require(tile >= 1 && steps >= 2, "the benchmark needs a tile of at least 1 pixel and at least 2 steps");
    check_input(model.architecture(), x);
    const Tensor2 scores = logits(model, x);
    std::vector<AttributionScore> table(methods.size());
    const std::size_t images = x.shape()[0];
    for (std::size_t n = 0; n < images; ++n) {
        const Tensor4 image = xt::view(x, xt::range(n, n + 1));
        const int c = top_classes(scores, n, 1)[0];
        const auto regions = tiles(int(x.shape()[2]), int(x.shape()[3]), tile);
        std::vector<double> reference;
        Tensor evidence;
        for (std::size_t m = 0; m < methods.size(); ++m) {
            const AttributionMethod& method = methods[m];
            const auto start = std::chrono::steady_clock::now();
            const Tensor attribution = method.attribute(image, c);
            const Tensor patch_scores =
                method.patch_scores ? method.patch_scores(image, c) : patch_sums(attribution, model.architecture());
            table[m].seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / double(images);
            const auto sums = region_sums(attribution, regions);
            if (m == 0) {
                reference = sums;
                evidence = patch_scores;
            }
            table[m].method = method.name;
            table[m].rank_correlation += rank_correlation(sums, reference) / double(images);
            table[m].patch_deletion += patch_deletion_score(evidence, patch_scores, steps) / double(images);
            table[m].pixel_deletion += pixel_deletion_score(model, image, c, attribution, tile, steps) / double(images);
        }
    }
    return table;
}

// total += part * weight, row by row (an empty total takes part's rows): the means
// over a data set from the means over its batches.
inline void add_weighted(std::vector<AttributionScore>& total, const std::vector<AttributionScore>& part, double weight) {
    if (total.empty()) total.assign(part.size(), {});
    for (std::size_t m = 0; m < part.size(); ++m) {
        total[m].method = part[m].method;
        total[m].rank_correlation += part[m].rank_correlation * weight;
        total[m].patch_deletion += part[m].patch_deletion * weight;
        total[m].pixel_deletion += part[m].pixel_deletion * weight;
        total[m].seconds += part[m].seconds * weight;
    }
}

// The benchmark over a data set whose batches are shared between processes
// (distributed/shard.hpp): each batch's means, weighted by its share of the images, summed
// in batch order, so the table is one process's whatever the number of processes (but
// `seconds`, each process's own). On the first process; empty on the others.
template <class Backend>
std::vector<AttributionScore> benchmark_attributions(const Model<Backend>& model, const data::Dataset& data,
                                                     const std::vector<AttributionMethod>& methods, int tile, int steps,
                                                     const distributed::ShardOptions& options,
                                                     distributed::Communicator& processes) {
    const auto parts = distributed::map_batches(data, options, processes, [&](const data::Batch& batch) {
        distributed::Writer out;
        out.number(std::uint64_t(batch.labels.size()));
        for (const AttributionScore& row : benchmark_attributions(model, batch.images, methods, tile, steps))
            out.text(row.method).number(row.rank_correlation).number(row.patch_deletion).number(row.pixel_deletion)
                .number(row.seconds);
        return out.bytes();
    });
    std::vector<AttributionScore> table;
    for (const std::string& part : parts) {
        distributed::Reader in(part);
        const double images = double(in.number<std::uint64_t>());
        std::vector<AttributionScore> rows;
        while (!in.done()) {
            AttributionScore row;
            row.method = in.text();
            row.rank_correlation = in.number<double>();
            row.patch_deletion = in.number<double>();
            row.pixel_deletion = in.number<double>();
            row.seconds = in.number<double>();
            rows.push_back(row);
        }
        add_weighted(table, rows, images / double(data.size()));
    }
    return table;
}

// A markdown table, the reference first, with what each score means.
inline std::string to_markdown(const std::vector<AttributionScore>& table, std::size_t images) {
    std::string out =
        "| method | rank correlation with the exact evidence | patch deletion (1 = exact order, 0 = reverse) | "
        "pixel deletion: mean logit fall (secondary) | s/image |\n| --- | --- | --- | --- | --- |\n";
    char line[256];
    for (const auto& row : table) {
        std::snprintf(line, sizeof line, "| %s | %.3f | %.3f | %.3f | %.3f |\n", row.method.c_str(),
                      row.rank_correlation, row.patch_deletion, row.pixel_deletion, row.seconds);
        out += line;
    }
    return out + "\n" + std::to_string(images) +
           " images, each for its predicted class. Rank correlation: Spearman's, between the method's and the exact "
           "evidence's sums over image tiles (1: the same ranking). Patch deletion: the logit is the mean of the "
           "patches' evidence, so removing patches in the order the method ranks them (its attribution summed over "
           "each patch) gives an exact curve; 1 is the best possible order (the exact evidence's), 0 the worst. Pixel "
           "deletion: the logit's mean fall while image tiles are masked in the method's order; masking a pixel "
           "changes every patch that covers it, so this is not what the exact evidence predicts, and the exact "
           "evidence need not score best on it.\n";
}

// Built once in bagnet::compiled (bagnet/instances.hpp).
#define BAGNET_ATTRIBUTION_BENCHMARK_INSTANCES(prefix, Backend)                                                 \
    prefix AttributionMethod exact_evidence<Backend>(const Model<Backend>&);                                    \
    prefix AttributionMethod occlusion_method<Backend>(const Model<Backend>&, int, int);                        \
    prefix std::vector<AttributionScore> benchmark_attributions<Backend>(const Model<Backend>&, const Tensor4&, \
        const std::vector<AttributionMethod>&, int, int);                                                       \
    prefix std::vector<AttributionScore> benchmark_attributions<Backend>(const Model<Backend>&,                 \
        const data::Dataset&, const std::vector<AttributionMethod>&, int, int, const distributed::ShardOptions&, \
        distributed::Communicator&);
BAGNET_EXTERN_INSTANCES(BAGNET_ATTRIBUTION_BENCHMARK_INSTANCES)

}  // namespace bagnet
