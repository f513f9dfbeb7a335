#pragma once
// Certified robustness of a BagNet against one adversarial patch, image by image:
//
//   bagnet::data::TensorDataset set(x, labels);
//   bagnet::data::BatchStream stream(set, bagnet::data::StreamOptions::in_order(64));
//   auto report = bagnet::certify(model, stream, bagnet::PatchSize::square(4), bagnet::MaskingOptions().threshold(0.2));
//   report.summary().certified_accuracy;   // the share of images no 4 x 4 patch anywhere can flip
//
// One forward pass per batch gives the logit map; the defenses and their certificates
// work on it alone (summed-area tables: a small fraction of the forward pass).
#include <cstdint>
#include <functional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "bagnet/data/stream.hpp"
#include "bagnet/distributed/shard.hpp"
#include "bagnet/inference.hpp"
#include "bagnet/instances.hpp"
#include "bagnet/io/json.hpp"
#include "bagnet/robust/clipping.hpp"
#include "bagnet/robust/masking.hpp"

namespace bagnet {

struct ImageCertificate {
    std::size_t index = 0;      // position in the data set
    std::int64_t label = 0;
    int prediction = 0;         // the undefended BagNet's: argmax of its logits
    int robust_prediction = 0;  // the defended BagNet's
    bool certified = false;     // no patch in any window can change robust_prediction from label
};

struct CertificationSummary {
    std::size_t images = 0;
    double clean_accuracy = 0, robust_accuracy = 0, certified_accuracy = 0;
};

inline CertificationSummary summarize(const std::vector<ImageCertificate>& images) {
    CertificationSummary s;
    s.images = images.size();
    if (images.empty()) return s;
    std::size_t clean = 0, robust = 0, certified = 0;
    for (const auto& image : images) {
        clean += image.prediction == image.label;
        robust += image.robust_prediction == image.label;
        certified += image.certified;
    }
    const double n = double(images.size());
    s.clean_accuracy = double(clean) / n;
    s.robust_accuracy = double(robust) / n;
    s.certified_accuracy = double(certified) / n;
    return s;
}

struct CertificationReport {
    Defense defense;
    PatchSize patch;
    PatchWindow window;
    std::vector<ImageCertificate> images;
    CertificationSummary summary() const { return summarize(images); }
};

namespace detail {

// Every class's sum of the logit map over the cells (in double): the undefended BagNet's
// logits times the number of cells.
inline std::vector<double> logit_totals(const Tensor4& map, std::size_t image) {
    const std::size_t k = map.shape()[3], cells = map.shape()[1] * map.shape()[2];
    const float* logits = map.data() + image * cells * k;
    std::vector<double> totals(k, 0.0);
    for (std::size_t cell = 0; cell < cells; ++cell)
        for (std::size_t c = 0; c < k; ++c) totals[c] += logits[cell * k + c];
    return totals;
}

// The defended BagNet's prediction for one image, and (for label >= 0) its certificate.
inline std::pair<int, bool> defend(const Tensor4& map, std::size_t image, const std::vector<CellBlock>& windows,
                                   const Defense& defense, int label) {
    if (const auto* masking = std::get_if<MaskingOptions>(&defense)) {
        const EvidenceSums sums = masking_evidence(map, image, *masking);
        return {argmax_lowest(masked_totals(sums, windows, masking->threshold_)),
                label >= 0 && masking_certified(sums, label, windows, *masking, masking_bound(map, *masking))};
    }
    const auto& clipping = std::get<ClippingOptions>(defense);
    const EvidenceSums sums = clipping_evidence(map, image, clipping);
    return {argmax_lowest(sums.totals()), label >= 0 && clipping_certified(sums, label, windows, clipping)};
}

// "defense": "masking", "threshold": T, "clip": C (null: none, or tanh for clipping)
inline void add_defense(io::Json& out, const Defense& defense) {
    out["defense"] = defense_name(defense);
    if (const auto* masking = std::get_if<MaskingOptions>(&defense)) {
        out["threshold"] = masking->threshold_;
        out["clip"] = masking->clip_;
    } else {
        out["clip"] = std::get<ClippingOptions>(defense).clip_;
    }
}

// "patch": P (or [h, w]), "window": [wy, wx]
inline void add_geometry(io::Json& out, PatchSize p, PatchWindow w) {
    out["patch"] = p.height == p.width ? io::Json(p.height) : io::Json::array({p.height, p.width});
    out["window"] = io::Json::array({w.height, w.width});
}

// The defense and the geometry, the head of both robustness reports.
inline io::Json report_head(const Defense& defense, PatchSize p, PatchWindow w) {
    io::Json out = io::Json::object();
    add_defense(out, defense);
    add_geometry(out, p, w);
    return out;
}

// `indices`: the images' positions in the data set, for messages and the report. Checked
// before a batch's forward pass.
inline void check_labels(const std::vector<std::int64_t>& labels, const std::vector<std::size_t>& indices, int classes) {
    for (std::size_t i = 0; i < labels.size(); ++i)
        require(labels[i] >= 0 && labels[i] < classes, "label " + std::to_string(labels[i]) + " of image " +
                                                           std::to_string(indices[i]) + " is out of range for " +
                                                           std::to_string(classes) + " classes");
}

inline void certify_map(const Tensor4& map, const std::vector<std::int64_t>& labels,
                        const std::vector<std::size_t>& indices, PatchWindow window, const Defense& defense,
                        std::vector<ImageCertificate>& out) {
    const auto windows = window_positions(window, int(map.shape()[1]), int(map.shape()[2]));
    for (std::size_t n = 0; n < map.shape()[0]; ++n) {
        ImageCertificate image;
        image.index = indices[n];
        image.label = labels[n];
        image.prediction = argmax_lowest(logit_totals(map, n));
        std::tie(image.robust_prediction, image.certified) = defend(map, n, windows, defense, int(labels[n]));
        out.push_back(image);
    }
}

}  // namespace detail

// Every image of an N x H x W x classes logit map against a patch that fits `window`.
inline std::vector<ImageCertificate> certify(const Tensor4& logit_map, const std::vector<std::int64_t>& labels,
                                             PatchWindow window, const Defense& defense) {
    validate(defense);
    require(labels.size() == logit_map.shape()[0], "certify: " + std::to_string(labels.size()) + " labels for " +
                                                       std::to_string(logit_map.shape()[0]) + " images");
    std::vector<std::size_t> indices(labels.size());
    for (std::size_t i = 0; i < indices.size(); ++i) indices[i] = i;
    detail::check_labels(labels, indices, int(logit_map.shape()[3]));
    std::vector<ImageCertificate> images;
    detail::certify_map(logit_map, labels, indices, window, defense, images);
    return images;
}

// Called after each batch with the images done so far and the images to do (of this
// process, where processes share the data set).
using CertifyProgress = std::function<void(std::size_t done, std::size_t total)>;

namespace detail {

// One batch's certificates (none when every file of it was skipped as corrupt).
template <class Backend>
std::vector<ImageCertificate> certify_batch(const Model<Backend>& model, const data::Batch& batch, PatchWindow window,
                                            const Defense& defense) {
    std::vector<ImageCertificate> images;
    if (batch.labels.empty()) return images;
    check_labels(batch.labels, batch.indices, model.architecture().classes());
    certify_map(logit_map(model, batch.images), batch.labels, batch.indices, window, defense, images);
    return images;
}

inline std::string certificate_bytes(const std::vector<ImageCertificate>& images) {
    distributed::Writer out;
    for (const ImageCertificate& c : images)
        out.number(std::uint64_t(c.index)).number(c.label).number(c.prediction).number(c.robust_prediction)
            .number(std::uint8_t(c.certified));
    return out.bytes();
}

inline void read_certificates(const std::string& bytes, std::vector<ImageCertificate>& out) {
    for (distributed::Reader in(bytes); !in.done();) {
        ImageCertificate c;
        c.index = std::size_t(in.number<std::uint64_t>());
        c.label = in.number<std::int64_t>();
        c.prediction = in.number<int>();
        c.robust_prediction = in.number<int>();
        c.certified = in.number<std::uint8_t>() != 0;
        out.push_back(c);
    }
}

inline PatchWindow data_window(const Architecture& arch, PatchSize patch, const data::Dataset& data) {
    const data::ItemShape shape = data.shape();
    return patch_window(arch, patch, int(shape.height), int(shape.width));
}

}  // namespace detail

// Every image of one epoch of the stream (StreamOptions::in_order: each image once) against a
// patch of `patch` pixels anywhere in it, batch by batch: memory holds the stream's batches.
template <class Backend>
CertificationReport certify(const Model<Backend>& model, data::BatchStream& stream, PatchSize patch,
                            const Defense& defense, const CertifyProgress& progress = {}) {
    validate(defense);
    CertificationReport report{defense, patch, detail::data_window(model.architecture(), patch, stream.dataset()), {}};
    for (std::size_t b = 0; b < stream.batches_per_epoch(); ++b) {
        const auto images = detail::certify_batch(model, stream.batch(0, b), report.window, defense);
        report.images.insert(report.images.end(), images.begin(), images.end());
        if (progress) progress(report.images.size(), stream.dataset().size());
    }
    require(!report.images.empty(), "the data set is empty: no images to certify");
    return report;
}

// The same with the data set's batches shared between processes (distributed/shard.hpp):
// each batch is certified whole, as by one process, so the report, on the first process,
// is exactly one process's (its images empty on the others).
template <class Backend>
CertificationReport certify(const Model<Backend>& model, const data::Dataset& data, PatchSize patch,
                            const Defense& defense, const distributed::ShardOptions& options,
                            distributed::Communicator& processes, const CertifyProgress& progress = {}) {
    validate(defense);
    require(data.size() > 0, "the data set is empty: no images to certify");
    CertificationReport report{defense, patch, detail::data_window(model.architecture(), patch, data), {}};
    const std::size_t mine = distributed::BatchShard(data, options.batch, processes.rank(), processes.size()).size();
    std::size_t done = 0;
    const auto parts = distributed::map_batches(data, options, processes, [&](const data::Batch& batch) {
        const auto images = detail::certify_batch(model, batch, report.window, defense);
        if (progress) progress(done += batch.indices.size(), mine);
        return detail::certificate_bytes(images);
    });
    for (const std::string& part : parts) detail::read_certificates(part, report.images);
    require(!processes.is_root() || !report.images.empty(), "every image of the data set was skipped as corrupt");
    return report;
}

// {"defense": ..., "threshold": T (masking), "clip": C or null, "patch": P (or [h, w]),
//  "window": [wy, wx], "images": [{"index", "label", "prediction", "robust_prediction",
//  "certified"}, ...], "summary": {"images", "clean_accuracy", "robust_accuracy",
//  "certified_accuracy"}}
inline std::string to_json(const CertificationReport& report) {
    io::Json out = detail::report_head(report.defense, report.patch, report.window);
    io::Json& images = out["images"] = io::Json::array();
    for (const ImageCertificate& c : report.images)
        images.push_back({{"index", c.index},
                          {"label", c.label},
                          {"prediction", c.prediction},
                          {"robust_prediction", c.robust_prediction},
                          {"certified", c.certified}});
    const CertificationSummary s = report.summary();
    out["summary"] = {{"images", s.images},
                      {"clean_accuracy", s.clean_accuracy},
                      {"robust_accuracy", s.robust_accuracy},
                      {"certified_accuracy", s.certified_accuracy}};
    return io::json_text(out);
}

// Built once in bagnet::compiled (bagnet/instances.hpp).
#define BAGNET_CERTIFY_INSTANCES(prefix, Backend)                                                              \
    prefix CertificationReport certify<Backend>(const Model<Backend>&, data::BatchStream&, PatchSize,          \
        const Defense&, const CertifyProgress&);                                                               \
    prefix CertificationReport certify<Backend>(const Model<Backend>&, const data::Dataset&, PatchSize,        \
        const Defense&, const distributed::ShardOptions&, distributed::Communicator&, const CertifyProgress&);
BAGNET_EXTERN_INSTANCES(BAGNET_CERTIFY_INSTANCES)

}  // namespace bagnet
