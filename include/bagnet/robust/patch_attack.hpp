#pragma once
// A projected-gradient patch attack, to put the certificates to the test: a p x p patch of
// pixels at a given position, or at every position on a stride, is optimised to maximise
// the margin of the best wrong class over the label (the undefended BagNet's logits):
// sign-gradient steps on the patch pixels only, each projected to the valid pixel range,
// from a random patch. Every iterate is also classified by the defended BagNet, so an
// image counts as flipped for the defense if any patched image on the way fools it. A
// certified image must never be.
//
//   auto report = bagnet::attack_patch(model, stream, bagnet::PatchSize::square(4),
//                                      bagnet::PixelRange::normalised({0.286f}, {0.353f}),
//                                      bagnet::MaskingOptions(), bagnet::PatchAttackOptions().stride(2));
#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <xtensor/xview.hpp>

#include "bagnet/instances.hpp"
#include "bagnet/robust/certify.hpp"
#include "bagnet/train/input_gradient.hpp"

namespace bagnet {

// The normalised values a pixel can take, per channel.
struct PixelRange {
    std::vector<float> low, high;
    // Of [0, 1] pixels normalised as (v - mean) / std.
    static PixelRange normalised(const std::vector<float>& mean, const std::vector<float>& stddev) {
        require(mean.size() == stddev.size() && !mean.empty(), "a pixel range needs one mean and std per channel");
        PixelRange range;
        for (std::size_t c = 0; c < mean.size(); ++c) {
            require(stddev[c] > 0, "the pixel standard deviation must be positive");
            range.low.push_back((0.f - mean[c]) / stddev[c]);
            range.high.push_back((1.f - mean[c]) / stddev[c]);
        }
        return range;
    }
};

struct PatchAttackOptions {
    int steps_ = 40;            // gradient steps per position
    double step_size_ = 0.05;   // per step, as a share of each channel's pixel range
    int stride_ = 1;            // positions: every stride pixels along both axes...
    int y_ = -1, x_ = -1;       // ... or this one (top-left pixel)
    std::size_t batch_size_ = 64;  // patched images per pass
    std::uint64_t seed_ = 0;    // of the random starting patches

    PatchAttackOptions& steps(int value) {
        steps_ = value;
        return *this;
    }
    PatchAttackOptions& step_size(double value) {
        step_size_ = value;
        return *this;
    }
    PatchAttackOptions& stride(int value) {
        stride_ = value;
        return *this;
    }
    PatchAttackOptions& at(int y, int x) {
        y_ = y;
        x_ = x;
        return *this;
    }
    PatchAttackOptions& batch_size(std::size_t value) {
        batch_size_ = value;
        return *this;
    }
    PatchAttackOptions& seed(std::uint64_t value) {
        seed_ = value;
        return *this;
    }
    void validate() const {
        require(steps_ >= 0, "the attack needs at least 0 steps, got " + std::to_string(steps_));
        require(step_size_ > 0 && step_size_ <= 1,
                "the attack's step size must be in (0, 1] of the pixel range, got " + detail::setting(step_size_));
        require(stride_ >= 1, "the attack's position stride must be at least 1, got " + std::to_string(stride_));
        require((y_ < 0) == (x_ < 0), "the attack position needs both y and x");
        require(batch_size_ >= 1, "the attack's batch size must be at least 1");
    }
};

struct AttackedImage {
    std::size_t index = 0;
    std::int64_t label = 0;
    int clean_prediction = 0, clean_robust_prediction = 0;
    bool certified = false;  // by the defense's certificate, before the attack
    // The patched image with the largest margin (best wrong logit minus the label's).
    double margin = -std::numeric_limits<double>::infinity();
    int y = 0, x = 0;
    int prediction = 0;  // the undefended BagNet's prediction of it
    // The first patched image the defended BagNet got wrong, if any.
    bool robust_flipped = false;
    int robust_y = -1, robust_x = -1;
    int robust_prediction = 0;  // of that image; else the clean robust prediction
};

struct PatchAttackSummary {
    std::size_t images = 0;
    double clean_accuracy = 0, robust_accuracy = 0;                      // before the attack
    double attacked_accuracy = 0, attacked_robust_accuracy = 0;         // after it
    double certified_accuracy = 0;
    std::size_t certified_flipped = 0;  // certified images the attack fooled: always 0
};

struct PatchAttackReport {
    Defense defense;
    PatchSize patch;
    PatchWindow window;
    PatchAttackOptions options;
    std::vector<AttackedImage> images;

    PatchAttackSummary summary() const {
        PatchAttackSummary s;
        s.images = images.size();
        if (images.empty()) return s;
        for (const auto& i : images) {
            s.clean_accuracy += i.clean_prediction == i.label;
            s.robust_accuracy += i.clean_robust_prediction == i.label;
            s.attacked_accuracy += i.prediction == i.label;
            s.attacked_robust_accuracy += !i.robust_flipped;
            s.certified_accuracy += i.certified;
            s.certified_flipped += i.certified && i.robust_flipped;
        }
        const double n = double(images.size());
        for (double* share : {&s.clean_accuracy, &s.robust_accuracy, &s.attacked_accuracy,
                              &s.attacked_robust_accuracy, &s.certified_accuracy})
            *share /= n;
        return s;
    }
};

namespace detail {

struct PatchPosition {
    int y = 0, x = 0;
};

inline std::vector<PatchPosition> attack_positions(PatchSize patch, int height, int width,
                                                   const PatchAttackOptions& options) {
    if (options.y_ >= 0) {
        require(options.y_ + patch.height <= height && options.x_ + patch.width <= width,
                "a " + to_string(patch) + " patch at (" + std::to_string(options.y_) + ", " +
                    std::to_string(options.x_) + ") does not fit in " + std::to_string(height) + " x " +
                    std::to_string(width) + " images");
        return {{options.y_, options.x_}};
    }
    std::vector<PatchPosition> positions;
    for (int y = 0; y + patch.height <= height; y += options.stride_)
        for (int x = 0; x + patch.width <= width; x += options.stride_) positions.push_back({y, x});
    return positions;
}

// One patched image of the attack: which image of the batch, and where its patch is.
struct AttackJob {
    std::size_t image = 0;
    PatchPosition at;
};

// Attacks the jobs together (one batch of patched images) and records what they did in `out`
// (indexed like the batch's images).
template <class Backend>
void attack_jobs(const Model<Backend>& model, const data::Batch& batch, const std::vector<AttackJob>& jobs,
                 PatchSize patch, const PixelRange& range, const std::vector<CellBlock>& windows,
                 const Defense& defense, const PatchAttackOptions& options, std::vector<AttackedImage>& out) {
    const Tensor4& images = batch.images;
    const std::vector<std::int64_t>& labels = batch.labels;
    const std::size_t b = jobs.size(), channels = images.shape()[1];
    const std::size_t classes = std::size_t(model.architecture().classes());
    Tensor4 x = Tensor4::from_shape({b, channels, images.shape()[2], images.shape()[3]});
    for (std::size_t j = 0; j < b; ++j) {
        xt::view(x, j) = xt::view(images, jobs[j].image);
        // The same start whatever the batching: seeded by the image's index and the position.
        std::seed_seq seed{std::uint64_t(options.seed_), std::uint64_t(batch.indices[jobs[j].image]),
                           std::uint64_t(jobs[j].at.y), std::uint64_t(jobs[j].at.x)};
        std::mt19937_64 random(seed);
        for (std::size_t c = 0; c < channels; ++c) {
            std::uniform_real_distribution<float> pixel(range.low[c], range.high[c]);
            for (int dy = 0; dy < patch.height; ++dy)
                for (int dx = 0; dx < patch.width; ++dx)
                    x(j, c, std::size_t(jobs[j].at.y + dy), std::size_t(jobs[j].at.x + dx)) = pixel(random);
        }
    }
    for (int step = 0;; ++step) {
        const Tensor4 map = logit_map(model, x);
        const double per_cell = 1.0 / double(map.shape()[1] * map.shape()[2]);
        Tensor2 weights = xt::zeros<float>({b, classes});
        for (std::size_t j = 0; j < b; ++j) {
            AttackedImage& record = out[jobs[j].image];
            const std::size_t label = std::size_t(labels[jobs[j].image]);
            const std::vector<double> totals = logit_totals(map, j);
            std::size_t rival = label == 0 ? 1 : 0;
            for (std::size_t c = 0; c < classes; ++c)
                if (c != label && totals[c] > totals[rival]) rival = c;
            const double margin = (totals[rival] - totals[label]) * per_cell;
            if (margin > record.margin) {
                record.margin = margin;
                record.y = jobs[j].at.y;
                record.x = jobs[j].at.x;
                record.prediction = argmax_lowest(totals);
            }
            const int robust = defend(map, j, windows, defense, -1).first;
            if (!record.robust_flipped && robust != int(label)) {
                record.robust_flipped = true;
                record.robust_y = jobs[j].at.y;
                record.robust_x = jobs[j].at.x;
                record.robust_prediction = robust;
            }
            weights(j, rival) = 1.f;
            weights(j, label) = -1.f;
        }
        if (step == options.steps_) break;
        const Tensor4 gradient = input_gradient(model, x, weights);
        for (std::size_t j = 0; j < b; ++j)
            for (std::size_t c = 0; c < channels; ++c) {
                const float low = range.low[c], high = range.high[c];
                const float step_size = float(options.step_size_) * (high - low);
                for (int dy = 0; dy < patch.height; ++dy)
                    for (int dx = 0; dx < patch.width; ++dx) {
                        const std::size_t py = std::size_t(jobs[j].at.y + dy), px = std::size_t(jobs[j].at.x + dx);
                        const float g = gradient(j, c, py, px);
                        const float moved = x(j, c, py, px) + (g > 0 ? step_size : g < 0 ? -step_size : 0.f);
                        x(j, c, py, px) = std::clamp(moved, low, high);
                    }
            }
    }
}

}  // namespace detail

namespace detail {

// What the attack does to one batch of images (none when every file of it was skipped as
// corrupt): their clean certificates, then the attack at every position, options.batch_size_
// patched images a pass.
template <class Backend>
std::vector<AttackedImage> attack_batch(const Model<Backend>& model, const data::Batch& batch, PatchSize patch,
                                        const PixelRange& range, const Defense& defense,
                                        const PatchAttackOptions& options, PatchWindow window,
                                        const std::vector<PatchPosition>& positions,
                                        const std::vector<CellBlock>& windows) {
    if (batch.labels.empty()) return {};
    const std::vector<ImageCertificate> clean = certify_batch(model, batch, window, defense);
    std::vector<AttackedImage> attacked(clean.size());
    for (std::size_t n = 0; n < clean.size(); ++n) {
        AttackedImage& a = attacked[n];
        a.index = clean[n].index;
        a.label = clean[n].label;
        a.clean_prediction = clean[n].prediction;
        a.clean_robust_prediction = a.robust_prediction = clean[n].robust_prediction;
        a.certified = clean[n].certified;
    }
    std::vector<AttackJob> jobs;
    for (std::size_t n = 0; n < clean.size(); ++n)
        for (const auto& at : positions) jobs.push_back({n, at});
    for (std::size_t start = 0; start < jobs.size(); start += options.batch_size_) {
        const std::vector<AttackJob> chunk(
            jobs.begin() + std::ptrdiff_t(start),
            jobs.begin() + std::ptrdiff_t(std::min(jobs.size(), start + options.batch_size_)));
        attack_jobs(model, batch, chunk, patch, range, windows, defense, options, attacked);
    }
    return attacked;
}

inline std::string attacked_bytes(const std::vector<AttackedImage>& images) {
    distributed::Writer out;
    for (const AttackedImage& a : images)
        out.number(std::uint64_t(a.index)).number(a.label).number(a.clean_prediction)
            .number(a.clean_robust_prediction).number(std::uint8_t(a.certified)).number(a.margin).number(a.y)
            .number(a.x).number(a.prediction).number(std::uint8_t(a.robust_flipped)).number(a.robust_y)
            .number(a.robust_x).number(a.robust_prediction);
    return out.bytes();
}

inline void read_attacked(const std::string& bytes, std::vector<AttackedImage>& out) {
    for (distributed::Reader in(bytes); !in.done();) {
        AttackedImage a;
        a.index = std::size_t(in.number<std::uint64_t>());
        a.label = in.number<std::int64_t>();
        a.clean_prediction = in.number<int>();
        a.clean_robust_prediction = in.number<int>();
        a.certified = in.number<std::uint8_t>() != 0;
        a.margin = in.number<double>();
        a.y = in.number<int>();
        a.x = in.number<int>();
        a.prediction = in.number<int>();
        a.robust_flipped = in.number<std::uint8_t>() != 0;
        a.robust_y = in.number<int>();
        a.robust_x = in.number<int>();
        a.robust_prediction = in.number<int>();
        out.push_back(a);
    }
}

// The report's settings, with no images yet; checked before any work.
template <class Backend>
PatchAttackReport empty_attack_report(const Model<Backend>& model, const data::Dataset& data, PatchSize patch,
                                      const PixelRange& range, const Defense& defense,
                                      const PatchAttackOptions& options) {
    validate(defense);
    options.validate();
    const Architecture& arch = model.architecture();
    require(int(range.low.size()) == arch.in_channels && range.high.size() == range.low.size(),
            "the pixel range has " + std::to_string(range.low.size()) + " channels, " + arch.name + " takes " +
                std::to_string(arch.in_channels));
    return {defense, patch, data_window(arch, patch, data), options, {}};
}

// The attack's patch positions and the defense's windows on the logit map, for `data`'s images.
template <class Backend>
std::pair<std::vector<PatchPosition>, std::vector<CellBlock>> attack_geometry(const Model<Backend>& model,
                                                                              const data::Dataset& data,
                                                                              const PatchAttackReport& report) {
    const data::ItemShape shape = data.shape();
    const int height = int(shape.height), width = int(shape.width);
    const Architecture& arch = model.architecture();
    return {attack_positions(report.patch, height, width, report.options),
            window_positions(report.window, arch.map_size(height), arch.map_size(width))};
}

}  // namespace detail

// Attacks every image of one epoch of the stream (StreamOptions::in_order: each image once)
// with a patch of `patch` pixels at every position the options name, and reports the
// undefended and the defended predictions.
template <class Backend>
PatchAttackReport attack_patch(const Model<Backend>& model, data::BatchStream& stream, PatchSize patch,
                               const PixelRange& range, const Defense& defense,
                               const PatchAttackOptions& options = {}, const CertifyProgress& progress = {}) {
    PatchAttackReport report = detail::empty_attack_report(model, stream.dataset(), patch, range, defense, options);
    const auto [positions, windows] = detail::attack_geometry(model, stream.dataset(), report);
    for (std::size_t b = 0; b < stream.batches_per_epoch(); ++b) {
        const auto attacked = detail::attack_batch(model, stream.batch(0, b), patch, range, defense, options,
                                                   report.window, positions, windows);
        report.images.insert(report.images.end(), attacked.begin(), attacked.end());
        if (progress) progress(report.images.size(), stream.dataset().size());
    }
    require(!report.images.empty(), "the data set is empty: no images to attack");
    return report;
}

// The same with the data set's batches shared between processes (distributed/shard.hpp):
// each batch is attacked whole, as by one process (the random starts are seeded by image
// and position), so the report, on the first process, is exactly one process's (its images
// empty on the others).
template <class Backend>
PatchAttackReport attack_patch(const Model<Backend>& model, const data::Dataset& data, PatchSize patch,
                               const PixelRange& range, const Defense& defense, const PatchAttackOptions& options,
                               const distributed::ShardOptions& shards, distributed::Communicator& processes,
                               const CertifyProgress& progress = {}) {
    PatchAttackReport report = detail::empty_attack_report(model, data, patch, range, defense, options);
    require(data.size() > 0, "the data set is empty: no images to attack");
    const auto [positions, windows] = detail::attack_geometry(model, data, report);
    const std::size_t mine = distributed::BatchShard(data, shards.batch, processes.rank(), processes.size()).size();
    std::size_t done = 0;
    const auto parts = distributed::map_batches(data, shards, processes, [&](const data::Batch& batch) {
        const auto attacked =
            detail::attack_batch(model, batch, patch, range, defense, options, report.window, positions, windows);
        if (progress) progress(done += batch.indices.size(), mine);
        return detail::attacked_bytes(attacked);
    });
    for (const std::string& part : parts) detail::read_attacked(part, report.images);
    require(!processes.is_root() || !report.images.empty(), "every image of the data set was skipped as corrupt");
    return report;
}

inline std::string to_json(const PatchAttackReport& report) {
    const PatchAttackOptions& o = report.options;
    io::Json out = detail::report_head(report.defense, report.patch, report.window);
    out["steps"] = o.steps_;
    out["step_size"] = o.step_size_;
    out["seed"] = o.seed_;
    out["positions"] = o.y_ >= 0 ? io::Json::array({io::Json::array({o.y_, o.x_})}) : io::Json{{"stride", o.stride_}};
    io::Json& images = out["images"] = io::Json::array();
    for (const AttackedImage& a : report.images)
        images.push_back({{"index", a.index},
                          {"label", a.label},
                          {"clean_prediction", a.clean_prediction},
                          {"clean_robust_prediction", a.clean_robust_prediction},
                          {"certified", a.certified},
                          {"margin", a.margin},
                          {"position", io::Json::array({a.y, a.x})},
                          {"prediction", a.prediction},
                          {"robust_prediction", a.robust_prediction},
                          {"robust_flipped", a.robust_flipped},
                          {"robust_position", a.robust_flipped ? io::Json::array({a.robust_y, a.robust_x}) : io::Json()}});
    const PatchAttackSummary s = report.summary();
    out["summary"] = {{"images", s.images},
                      {"clean_accuracy", s.clean_accuracy},
                      {"robust_accuracy", s.robust_accuracy},
                      {"attacked_accuracy", s.attacked_accuracy},
                      {"attacked_robust_accuracy", s.attacked_robust_accuracy},
                      {"certified_accuracy", s.certified_accuracy},
                      {"certified_flipped", s.certified_flipped}};
    return io::json_text(out);
}

// Built once in bagnet::compiled (bagnet/instances.hpp).
#define BAGNET_PATCH_ATTACK_INSTANCES(prefix, Backend)                                                     \
    prefix PatchAttackReport attack_patch<Backend>(const Model<Backend>&, data::BatchStream&, PatchSize,   \
        const PixelRange&, const Defense&, const PatchAttackOptions&, const CertifyProgress&);             \
    prefix PatchAttackReport attack_patch<Backend>(const Model<Backend>&, const data::Dataset&, PatchSize, \
        const PixelRange&, const Defense&, const PatchAttackOptions&, const distributed::ShardOptions&,    \
        distributed::Communicator&, const CertifyProgress&);
BAGNET_EXTERN_INSTANCES(BAGNET_PATCH_ATTACK_INSTANCES)

}  // namespace bagnet
