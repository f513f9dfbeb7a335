#pragma once
// bagnet heatmap | patches | explain | attribute
#include <cstdio>
#include <iostream>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include <unistd.h>

#include "bagnet/data/image_folder.hpp"
#include "bagnet/data/tensor_dataset.hpp"
#include "bagnet/explain.hpp"
#include "bagnet/io/idx.hpp"
#include "inference_commands.hpp"

namespace bagnet::cli {

// Fails before any work when `path` could not be written (its folder is missing or
// read-only), instead of after minutes of computing.
inline void require_writable_destination(const std::string& path) {
    const auto slash = path.rfind('/');
    const std::string folder = slash == std::string::npos ? "." : path.substr(0, std::max<std::size_t>(slash, 1));
    require(::access(folder.c_str(), W_OK) == 0, "cannot write " + path + ": folder '" + folder +
                                                     "' does not exist or is not writable");
}

inline bool ends_with(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Comma-separated integers (--class 3,7 or --images 0,5).
inline std::vector<long> integer_list(const Arguments& args, const std::string& name) {
    std::vector<long> values;
    const std::string text = args.get(name);
    for (std::size_t start = 0; start <= text.size();) {
        const std::size_t comma = std::min(text.find(',', start), text.size());
        const std::string item = text.substr(start, comma - start);
        char* end = nullptr;
        const long value = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0')
            throw UsageError("--" + name + " expects integers separated by commas, got '" + text + "'");
        values.push_back(value);
        start = comma + 1;
    }
    return values;
}

// --class C[,C...] or --top K (exactly one).
inline ClassChoice class_choice_of(const Arguments& args) {
    if (args.has("class") == args.has("top")) throw UsageError("give either --class C[,C...] or --top K");
    if (args.has("top")) return ClassChoice::top(int(args.get_int("top", 1, 1, 1 << 20)));
    std::vector<int> classes;
    for (long c : integer_list(args, "class")) classes.push_back(int(std::clamp(c, -1L, long(1 << 30))));
    return classes;
}

inline const std::vector<std::string>& fashion_mnist_class_names() {
    static const std::vector<std::string> names{"T-shirt/top", "trouser", "pullover", "dress", "coat",
                                                "sandal",      "shirt",   "sneaker",  "bag",   "ankle boot"};
    return names;
}

// Images for the explaining commands, from exactly one of
//   --input X.npy [--labels Y.npy]   normalised N x C x H x W (labels optional)
//   --dataset fashion-mnist [--split test]
//   --data-dir DIR                   DIR/<class>/<image>, ImageNet preprocessing
//   IMAGE...                         files, ImageNet preprocessing
// with --limit N keeping the first N images. Image files are decoded as they are
// needed, on --workers threads: memory does not grow with the number of images.
inline std::set<std::string> explain_data_options() {
    return with({"input", "labels", "dataset", "split", "data-dir", "limit"}, loading_options());
}

// Built in place (its data set may refer to the images it holds), never moved.
struct Inputs {
    LabelledImages data;                      // in memory (npy, Fashion-MNIST)
    std::unique_ptr<data::Dataset> source;    // every source as a data set
    std::unique_ptr<data::Dataset> set;       // its first --limit images
    std::vector<std::string> class_names;     // empty: the model's own names
    Display display;
    int workers = 1;

    explicit Inputs(const Arguments& args);
    Inputs(const Inputs&) = delete;
    Inputs& operator=(const Inputs&) = delete;

    std::size_t size() const { return set->size(); }
    std::string name(std::size_t index) const { return set->name(index); }
    data::BatchStream stream(std::size_t batch) const {
        return data::BatchStream(*set, data::StreamOptions::in_order(batch, workers));
    }
};

inline Inputs::Inputs(const Arguments& args) {
    const int sources = int(args.has("input")) + int(args.has("dataset")) + int(args.has("data-dir")) +
                        int(!args.positional().empty());
    if (sources != 1)
        throw UsageError("give exactly one of --input X.npy, --dataset fashion-mnist, --data-dir DIR or image files");
    workers = workers_of(args);
    const auto files = [&](data::ImageFolder listing) {
        source = std::make_unique<data::ImageFolderDataset>(std::move(listing), data::ImageTransform::imagenet_eval(),
                                                            decode_options_of(args));
        class_names = source->class_names();
        display = Display::imagenet();
    };
    if (args.has("data-dir")) {
        files(data::scan_image_folder(args.get("data-dir")));
    } else if (!args.positional().empty()) {
        files(data::image_files(args.positional()));
    } else if (args.has("dataset")) {
        if (args.get("dataset") != "fashion-mnist")
            throw UsageError("unknown --dataset '" + args.get("dataset") + "' (expected fashion-mnist)");
        const std::string split = args.get("split", "test");
        data = load_fashion_mnist(split);
        normalize_fashion_mnist(data.images);
        class_names = fashion_mnist_class_names();
        display = {{fashion_mnist_mean}, {fashion_mnist_std}};
        source = std::make_unique<data::TensorDataset>(data, data::TensorAugment(), split);
    } else {
        data.images = load_input(args.get("input"));
        data.labels = args.has("labels") ? io::load_npy_int64(args.get("labels"))
                                         : std::vector<std::int64_t>(data.images.shape()[0], -1);
        require(data.labels.size() == data.images.shape()[0],
                args.get("labels", "") + " has " + std::to_string(data.labels.size()) + " labels for " +
                    std::to_string(data.images.shape()[0]) + " images");
        source = std::make_unique<data::TensorDataset>(data, data::TensorAugment(), args.get("input"));
    }
    const auto limit = std::size_t(args.get_int("limit", 0, 0, 1L << 40));
    set = std::make_unique<data::FirstItems>(*source, limit > 0 ? limit : source->size());
}

// Runs body(batch) on the images, `batch` at a time, in order, while it returns true.
template <class Body>
void for_each_batch(const Inputs& in, std::size_t batch, Body&& body) {
    data::BatchStream stream = in.stream(batch);
    for (std::size_t b = 0; b < stream.batches_per_epoch(); ++b)
        if (!body(stream.batch(0, b))) return;
}

// How many images the analyses that look at every image (heatmaps, the
// attribution benchmark, the search for mistakes) hold at once.
constexpr std::size_t analysis_batch = 16;

// The data set's class names if it has them, else ImageNet's ("281 tabby") or "class 3".
inline std::string class_label(const Architecture& arch, const Inputs& in, int index) {
    if (std::size_t(index) < in.class_names.size()) return in.class_names[std::size_t(index)];
    return arch.classes() == imagenet::classes ? std::to_string(index) + " " + class_name(arch, index) : class_name(arch, index);
}

// On a terminal the line updates in place; in a log only the last state is written.
inline HeatmapProgress progress_line(const std::string& what) {
    const bool terminal = ::isatty(STDERR_FILENO) != 0;
    return [what, terminal](std::size_t done, std::size_t total) {
        if (!terminal && done != total) return;
        std::fprintf(stderr, "\r%s: %zu/%zu shifted passes%s", what.c_str(), done, total, done == total ? "\n" : "");
        std::fflush(stderr);
    };
}

inline int run_heatmap(const std::vector<std::string>& raw) {
    const Arguments args(raw, with(with(model_options(), explain_data_options()), {"class", "top", "output", "percentile"}), {"dense"});
    const std::string output = args.get("output");
    const bool png = ends_with(output, ".png");
    if (!png && !ends_with(output, ".npy")) throw UsageError("--output must end in .npy or .png, got '" + output + "'");
    const ClassChoice choice = class_choice_of(args);
    const double percentile = args.get_double("percentile", 99.0);
    if (!(percentile > 0 && percentile <= 100)) throw UsageError("--percentile must be in (0, 100]");
    require_writable_destination(output);
    return on_device(args, [&](const auto& model) {
        const Inputs in(args);
        const Architecture& arch = model.architecture();
        const bool dense = args.flag("dense");
        std::vector<Picture> figures;
        // The npy output is the first image's map: one batch of one image is enough.
        for_each_batch(in, png ? analysis_batch : 1, [&](const data::Batch& batch) {
            const Tensor4& x = batch.images;
            const Heatmaps maps = dense ? dense_heatmap(model, x, choice, progress_line("dense heatmap")) : coarse_heatmap(model, x, choice);
            if (!png) {
                // One class: H x W (or H' x W'); several: K x H x W.
                Tensor first = xt::view(maps.evidence, 0);
                if (first.shape()[0] == 1) first = xt::view(maps.evidence, 0, 0);
                io::save_npy(output, first);
                return false;
            }
            const Tensor2 scores = logits(model, x);
            for (std::size_t n = 0; n < x.shape()[0]; ++n) {
                const std::size_t height = x.shape()[2], width = x.shape()[3], k = maps.classes[n].size();
                Tensor shown = Tensor::from_shape({k, height, width});
                std::vector<std::string> labels;
                for (std::size_t c = 0; c < k; ++c) {
                    const int cls = maps.classes[n][c];
                    const Tensor map = xt::view(maps.evidence, n, c);
                    xt::view(shown, c) = dense ? map : coarse_to_pixels(map, arch, height, width);
                    labels.push_back(class_label(arch, in, cls) + ": logit " + format_number(scores(n, std::size_t(cls))));
                }
                const std::string truth = batch.labels[n] >= 0 ? " (true: " + class_label(arch, in, int(batch.labels[n])) + ")" : "";
                figures.push_back(heatmap_figure(displayable(x, n, in.display), shown, labels,
                                                 in.name(batch.indices[n]) + truth + " - " + arch.name +
                                                     (dense ? ", exact per-pixel evidence" : ", coarse evidence"),
                                                 percentile));
            }
            return true;
        });
        if (png) stacked(figures).save_png(output);
        return 0;
    });
}

inline int run_patches(const std::vector<std::string>& raw) {
    const Arguments args(raw, with(with(model_options(), explain_data_options()), {"class", "top", "batch", "output-dir"}), {});
    const std::string out = args.get("output-dir");
    if (!args.has("class")) throw UsageError("missing required option --class (C[,C...] or all)");
    require_writable_destination(out + "/patches.json");
    return on_device(args, [&](const auto& model) {
        const Architecture& arch = model.architecture();
        std::vector<int> classes;
        if (args.get("class") == "all") {
            for (int c = 0; c < arch.classes(); ++c) classes.push_back(c);
        } else {
            for (long c : integer_list(args, "class")) classes.push_back(int(std::clamp(c, -1L, long(1 << 30))));
        }
        const Inputs in(args);
        const auto k = std::size_t(args.get_int("top", 8, 1, 1000));
        data::BatchStream stream = in.stream(std::size_t(args.get_int("batch", 64, 1, 4096)));
        const auto found = top_patches(model, stream, classes, k);
        for (const TopPatches& top : found) {
            const std::string name = class_label(arch, in, top.class_index);
            const std::string stem = out + "/patches_class" + std::to_string(top.class_index);
            patch_grid(top, name, in.display).save_png(stem + ".png");
            save_text(stem + ".json", to_json(top, name));
            std::cout << "wrote " << stem << ".png and " << stem << ".json (" << top.images << " images scanned)\n";
        }
        return 0;
    });
}

inline int run_explain(const std::vector<std::string>& raw) {
    const Arguments args(raw, with(with(model_options(), explain_data_options()), {"label", "images", "count", "top", "patches", "output-dir"}),
                         {"mistakes"});
    const std::string out = args.get("output-dir");
    require_writable_destination(out + "/report.html");
    return on_device(args, [&](const auto& model) {
        const Inputs in(args);
        const Architecture& arch = model.architecture();
        const std::size_t n = in.size();
        const bool relabelled = args.has("label");
        const std::int64_t label = args.get_int("label", -1, 0, arch.classes() - 1);
        std::vector<std::size_t> chosen;
        if (args.has("images")) {
            for (long i : integer_list(args, "images")) {
                require(i >= 0 && std::size_t(i) < n, "--images: image " + std::to_string(i) + " is not among the " + std::to_string(n));
                chosen.push_back(std::size_t(i));
            }
        } else {
            // The first --count images (or mistakes), found by streaming the data set.
            const auto count = std::size_t(args.get_int("count", 4, 1, 1000));
            const bool mistakes = args.flag("mistakes");
            for_each_batch(in, analysis_batch, [&](const data::Batch& batch) {
                const Tensor2 scores = logits(model, batch.images);
                for (std::size_t i = 0; i < batch.labels.size() && chosen.size() < count; ++i) {
                    const std::int64_t truth = relabelled ? label : batch.labels[i];
                    if (!mistakes || (truth >= 0 && ClassChoice::top_classes(scores, i, 1)[0] != truth))
                        chosen.push_back(batch.indices[i]);
                }
                return chosen.size() < count;
            });
            require(!chosen.empty(), "no misclassified image to explain among the " + std::to_string(n) +
                                         (args.has("labels") || args.has("dataset") || args.has("data-dir") ? "" : " (give --labels or --label)"));
        }
        const int top = int(args.get_int("top", 3, 1, arch.classes()));
        const auto patches = std::size_t(args.get_int("patches", 6, 0, 100));
        const data::Batch images = in.stream(1).gather(0, chosen);
        std::string html, json = "[";
        for (std::size_t i = 0; i < chosen.size(); ++i) {
            const Explanation e = explain(model, images.images, i, top, relabelled ? label : images.labels[i], patches,
                                          [&](int c) { return class_label(arch, in, c); }, in.name(chosen[i]), in.display);
            html += to_html(e, in.display);
            json += std::string(i ? ",\n " : "\n ") + to_json(e);
        }
        save_text(out + "/report.json", json + "\n]\n");
        save_text(out + "/report.html", html_page(arch.name + " explained", html));
        std::cout << "wrote " << out << "/report.html and " << out << "/report.json (" << chosen.size() << " images)\n";
        return 0;
    });
}

inline int run_attribute(const std::vector<std::string>& raw) {
    const Arguments args(raw, with(with(model_options(), explain_data_options()), {"tile", "steps", "ig-steps", "window", "stride", "output"}),
                         {});
    if (args.has("output")) require_writable_destination(args.get("output"));
    return on_device(args, [&](const auto& model) {
        const Inputs in(args);
        const Architecture& arch = model.architecture();
        const int window = int(args.get_int("window", arch.patch_size, 1, 4096));
        const std::vector<AttributionMethod> methods{
            exact_evidence(model),
            gradient_method(model),
            gradient_times_input_method(model),
            integrated_gradients_method(model, int(args.get_int("ig-steps", 16, 1, 1024))),
            occlusion_method(model, window, int(args.get_int("stride", std::max(window / 2, 1), 1, 4096))),
            random_attribution(),
        };
        const int tile = int(args.get_int("tile", output_stride(arch), 1, 4096));
        const int steps = int(args.get_int("steps", 16, 2, 1024));
        // Each batch's means, weighted by its share of the images.
        std::vector<AttributionScore> table;
        for_each_batch(in, analysis_batch, [&](const data::Batch& batch) {
            const auto part = benchmark_attributions(model, batch.images, methods, tile, steps);
            const double weight = double(batch.labels.size()) / double(in.size());
            if (table.empty()) table.assign(part.size(), {});
            for (std::size_t m = 0; m < part.size(); ++m) {
                table[m].method = part[m].method;
                table[m].deletion_score += part[m].deletion_score * weight;
                table[m].rank_correlation += part[m].rank_correlation * weight;
                table[m].seconds += part[m].seconds * weight;
            }
            return true;
        });
        const std::string markdown = to_markdown(table, in.size());
        if (args.has("output")) save_text(args.get("output"), markdown);
        std::cout << markdown;
        return 0;
    });
}

}  // namespace bagnet::cli
