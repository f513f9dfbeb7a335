#pragma once
// Explaining a decision: for one image, its top classes (plus the true class when
// the model got it wrong), each class's exact evidence map, and the patches that
// contributed most to each class's logit. Written as one self-contained HTML page
// (pictures embedded) and as JSON.
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "bagnet/explain/heatmap.hpp"
#include "bagnet/explain/heatmap_picture.hpp"
#include "bagnet/explain/patch_grid.hpp"
#include "bagnet/data/stream.hpp"
#include "bagnet/distributed/shard.hpp"
#include "bagnet/instances.hpp"
#include "bagnet/io/json.hpp"

namespace bagnet {

struct ClassEvidence {
    int class_index = 0;
    std::string name;
    float logit = 0, probability = 0;
    Tensor evidence;             // H x W, exact per-pixel evidence
    std::vector<Patch> patches;  // this image's patches with the most evidence for the class, best first
};

struct Explanation {
    std::string source;
    std::int64_t true_label = -1;  // -1: unknown
    int predicted = 0;
    std::vector<ClassEvidence> classes;  // top classes, then the true class if it is not among them
    Tensor image;                        // C x H x W display values
    bool mistake() const { return true_label >= 0 && predicted != true_label; }
};

// The images of a batch that the model misclassifies, by their data-set index (an
// image labelled -1 has no known class, so it is never a mistake).
template <class Backend>
std::vector<std::size_t> misclassified(const Model<Backend>& model, const data::Batch& batch) {
    std::vector<std::size_t> found;
    if (batch.labels.empty()) return found;
    const Tensor2 scores = logits(model, batch.images);
    for (std::size_t i = 0; i < batch.labels.size(); ++i)
        if (batch.labels[i] >= 0 && top_classes(scores, i, 1)[0] != batch.labels[i]) found.push_back(batch.indices[i]);
    return found;
}

// The data set's first `count` misclassified images (in data-set order), by index,
// the same list on every process. The processes share the batches; each reports the
// first `count` mistakes of each of its batches, which is enough for the whole.
template <class Backend>
std::vector<std::size_t> first_mistakes(const Model<Backend>& model, const data::Dataset& set, std::size_t count,
                                        const distributed::ShardOptions& options, distributed::Communicator& processes) {
    const auto parts = distributed::map_batches(set, options, processes, [&](const data::Batch& batch) {
        distributed::Writer out;
        const std::vector<std::size_t> found = misclassified(model, batch);
        for (std::size_t i = 0; i < std::min(count, found.size()); ++i) out.number(std::uint64_t(found[i]));
        return out.bytes();
    });
    std::vector<std::size_t> chosen;  // filled on the first process, which has every part
    for (const std::string& part : parts)
        for (distributed::Reader found(part); !found.done() && chosen.size() < count;)
            chosen.push_back(std::size_t(found.number<std::uint64_t>()));
    std::uint64_t size = chosen.size();
    processes.broadcast(&size, sizeof size, 0);
    std::vector<std::uint64_t> indices(chosen.begin(), chosen.end());
    indices.resize(std::size_t(size));
    processes.broadcast(indices.data(), indices.size() * sizeof(std::uint64_t), 0);
    return std::vector<std::size_t>(indices.begin(), indices.end());
}
template <class Backend>
std::vector<std::size_t> first_mistakes(const Model<Backend>& model, const data::Dataset& set, std::size_t count,
                                        const distributed::ShardOptions& options = {}) {
    distributed::SingleProcess alone;
    return first_mistakes(model, set, count, options, alone);
}

// Explains image n of x (normalised): the top_k classes, the true class too when it
// is known and not among them, and `patches` patches per class.
template <class Backend>
Explanation explain(const Model<Backend>& model, const Tensor4& x, std::size_t n, int top_k, std::int64_t true_label,
                    std::size_t patches, const ClassNamer& name, const std::string& source, const Display& display = {}) {
    const Architecture& arch = model.architecture();
    require(n < x.shape()[0], "image " + std::to_string(n) + " is not in a batch of " + std::to_string(x.shape()[0]));
    require(top_k >= 1 && top_k <= arch.classes(), "cannot explain the top " + std::to_string(top_k) + " classes: " +
                                                       arch.name + " has " + std::to_string(arch.classes()));
    require(true_label < arch.classes(), "true class " + std::to_string(true_label) + " is out of range: " + arch.name +
                                             " has " + std::to_string(arch.classes()) + " classes");
    const Tensor4 one = xt::view(x, xt::range(n, n + 1));
    const Tensor4 map = logit_map(model, one);
    const Tensor2 scores = xt::mean(map, {1, 2});
    std::vector<int> chosen = top_classes(scores, 0, top_k);
    if (true_label >= 0 && std::find(chosen.begin(), chosen.end(), int(true_label)) == chosen.end())
        chosen.push_back(int(true_label));
    const Heatmaps dense = dense_heatmap(model, one, chosen);

    Explanation out;
    out.source = source;
    out.true_label = true_label;
    out.predicted = top_classes(scores, 0, 1)[0];
    out.image = displayable(one, 0, display);
    const double top = *std::max_element(scores.begin(), scores.end());
    double total = 0;
    for (float s : scores) total += std::exp(double(s) - top);
    const int q = arch.patch_size, stride = output_stride(arch);
    for (std::size_t k = 0; k < chosen.size(); ++k) {
        const int c = chosen[k];
        ClassEvidence ce{c, name(c), scores(0, std::size_t(c)), float(std::exp(double(scores(0, std::size_t(c))) - top) / total),
                         xt::view(dense.evidence, 0, k), {}};
        BoundedPatchHeap best(std::max<std::size_t>(patches, 1));
        for (std::size_t i = 0; i < map.shape()[1]; ++i)
            for (std::size_t j = 0; j < map.shape()[2]; ++j) {
                Patch p;
                p.score = map(0, i, j, std::size_t(c));
                p.y = int(i) * stride;
                p.x = int(j) * stride;
                if (!best.would_keep(p)) continue;
                p.source = source;
                p.label = true_label;
                p.pixels = xt::view(one, 0, xt::all(), xt::range(p.y, p.y + q), xt::range(p.x, p.x + q));
                best.push(std::move(p));
            }
        if (patches > 0) ce.patches = best.best_first();
        out.classes.push_back(std::move(ce));
    }
    return out;
}

inline std::string base64(const std::vector<unsigned char>& bytes) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        const unsigned v = unsigned(bytes[i]) << 16 | (i + 1 < bytes.size() ? unsigned(bytes[i + 1]) << 8 : 0u) |
                           (i + 2 < bytes.size() ? unsigned(bytes[i + 2]) : 0u);
        out += alphabet[v >> 18 & 63];
        out += alphabet[v >> 12 & 63];
        out += i + 1 < bytes.size() ? alphabet[v >> 6 & 63] : '=';
        out += i + 2 < bytes.size() ? alphabet[v & 63] : '=';
    }
    return out;
}

inline std::string html_escape(const std::string& text) {
    std::string out;
    for (char c : text) {
        switch (c) {
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '&': out += "&amp;"; break;
            case '"': out += "&quot;"; break;
            default: out += c;
        }
    }
    return out;
}

inline std::string embedded(const Picture& picture, const std::string& alt) {
    return "<img alt=\"" + html_escape(alt) + "\" src=\"data:image/png;base64," + base64(picture.png()) + "\">";
}

// The evidence maps side by side with the image, and each class's best patches.
inline Picture explanation_figure(const Explanation& e) {
    Tensor maps = Tensor::from_shape({e.classes.size(), e.image.shape()[1], e.image.shape()[2]});
    std::vector<std::string> labels;
    for (std::size_t k = 0; k < e.classes.size(); ++k) {
        xt::view(maps, k) = e.classes[k].evidence;
        const auto& c = e.classes[k];
        labels.push_back(c.name + " " + format_number(100 * c.probability) + "%" +
                         (c.class_index == e.true_label ? " (true)" : ""));
    }
    return heatmap_figure(e.image, maps, labels, e.source);
}

// One explanation as a JSON value (the report's documents list them).
inline io::Json to_json(const Explanation& e) {
    io::Json classes = io::Json::array();
    for (const auto& c : e.classes) {
        io::Json patches = io::Json::array();
        for (const auto& patch : c.patches) patches.push_back({{"evidence", patch.score}, {"y", patch.y}, {"x", patch.x}});
        classes.push_back({{"class", c.class_index},
                           {"name", c.name},
                           {"logit", c.logit},
                           {"probability", c.probability},
                           {"top_patches", patches}});
    }
    return {{"source", e.source},
            {"true_label", e.true_label},
            {"predicted", e.predicted},
            {"mistake", e.mistake()},
            {"classes", classes}};
}

// The HTML section of one explanation: its figure and, per class, its best patches.
inline std::string to_html(const Explanation& e, const Display& display = {}) {
    const ClassNamer name = [&e](int index) {
        for (const auto& c : e.classes)
            if (c.class_index == index) return c.name;
        return numbered_class(index);
    };
    std::string out = "<section><h2>" + html_escape(e.source) + "</h2>\n<p>predicted: <b>" +
                      html_escape(e.classes.front().name) + "</b>";
    if (e.true_label >= 0) {
        const auto truth = std::find_if(e.classes.begin(), e.classes.end(),
                                        [&](const ClassEvidence& c) { return c.class_index == e.true_label; });
        out += ", true: <b>" + html_escape(truth->name) + "</b>" + (e.mistake() ? " &mdash; <b>a mistake</b>" : " (correct)");
    }
    out += "</p>\n" + embedded(explanation_figure(e), "evidence maps") + "\n";
    for (const auto& c : e.classes) {
        if (c.patches.empty()) continue;
        out += "<p>patches with the most evidence for " + html_escape(c.name) + "</p>\n" +
               embedded(patch_row(c.patches, display, "", name), "patches for " + c.name) + "\n";
    }
    return out + "</section>\n";
}

inline std::string html_page(const std::string& title, const std::string& body) {
    return "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + html_escape(title) +
           "</title>\n<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto}img{max-width:100%;"
           "image-rendering:pixelated}</style></head>\n<body><h1>" + html_escape(title) + "</h1>\n" + body +
           "</body></html>\n";
}

// Built once in bagnet::compiled (bagnet/instances.hpp).
#define BAGNET_REPORT_INSTANCES(prefix, Backend)                                                               \
    prefix std::vector<std::size_t> first_mistakes<Backend>(const Model<Backend>&, const data::Dataset&,       \
        std::size_t, const distributed::ShardOptions&, distributed::Communicator&);                            \
    prefix std::vector<std::size_t> first_mistakes<Backend>(const Model<Backend>&, const data::Dataset&,       \
        std::size_t, const distributed::ShardOptions&);                                                        \
    prefix Explanation explain<Backend>(const Model<Backend>&, const Tensor4&, std::size_t, int, std::int64_t, \
        std::size_t, const ClassNamer&, const std::string&, const Display&);
BAGNET_EXTERN_INSTANCES(BAGNET_REPORT_INSTANCES)

}  // namespace bagnet
