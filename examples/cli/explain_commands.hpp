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
//   --data-dir DIR                   DIR/<class>/<image> (patches only: streamed)
//   IMAGE...                         files, ImageNet preprocessing
// with --limit N keeping the first N images.
inline std::set<std::string> explain_data_options() {
    return with({"input", "labels", "dataset", "split", "data-dir", "limit"}, loading_options());
}

struct Inputs {
    LabelledImages data;                    // in memory; empty for an image folder
    std::unique_ptr<data::ImageFolderDataset> folder;  // only for --data-dir: decoded as needed
    std::vector<std::string> names;         // one per image
    std::vector<std::string> class_names;   // empty: the model's own names
    Display display;
    std::size_t size() const { return folder ? folder->size() : data.images.shape()[0]; }
};

inline Inputs inputs_of(const Arguments& args, bool folder_allowed = false) {
    const int sources = int(args.has("input")) + int(args.has("dataset")) + int(args.has("data-dir")) +
                        int(!args.positional().empty());
    if (sources != 1)
        throw UsageError(std::string("give exactly one of --input X.npy, --dataset fashion-mnist") +
                         (folder_allowed ? ", --data-dir DIR" : "") + " or image files");
    Inputs in;
    if (args.has("data-dir")) {
        if (!folder_allowed) throw UsageError("--data-dir is for `bagnet patches`; give image files instead");
        in.folder = std::make_unique<data::ImageFolderDataset>(
            data::scan_image_folder(args.get("data-dir")), data::ImageTransform::imagenet_eval(), decode_options_of(args));
        in.names = in.folder->folder().files;
        in.class_names = in.folder->class_names();
        in.display = Display::imagenet();
        return in;
    }
    if (args.has("dataset")) {
        if (args.get("dataset") != "fashion-mnist")
            throw UsageError("unknown --dataset '" + args.get("dataset") + "' (expected fashion-mnist)");
        const std::string split = args.get("split", "test");
        in.data = load_fashion_mnist(split);
        normalize_fashion_mnist(in.data.images);
        in.class_names = fashion_mnist_class_names();
        in.display = {{fashion_mnist_mean}, {fashion_mnist_std}};
        for (std::size_t n = 0; n < in.data.labels.size(); ++n) in.names.push_back(split + " " + std::to_string(n));
    } else if (args.has("input")) {
        in.data.images = load_input(args.get("input"));
        in.data.labels = args.has("labels") ? io::load_npy_int64(args.get("labels"))
                                            : std::vector<std::int64_t>(in.data.images.shape()[0], -1);
        require(in.data.labels.size() == in.data.images.shape()[0],
                args.get("labels", "") + " has " + std::to_string(in.data.labels.size()) + " labels for " +
                    std::to_string(in.data.images.shape()[0]) + " images");
        for (std::size_t n = 0; n < in.data.labels.size(); ++n) in.names.push_back(args.get("input") + "[" + std::to_string(n) + "]");
    } else {
        // The few files named on the command line, decoded together on the workers.
        const data::ImageFolderDataset files(data::image_files(args.positional()), data::ImageTransform::imagenet_eval(),
                                             decode_options_of(args));
        data::BatchStream stream(files, data::StreamOptions::in_order(files.size(), workers_of(args)));
        std::vector<std::size_t> all(files.size());
        std::iota(all.begin(), all.end(), std::size_t(0));
        in.data.images = stream.gather(0, all).images;
        in.data.labels.assign(in.data.images.shape()[0], -1);
        in.names = args.positional();
        in.display = Display::imagenet();
    }
    const auto limit = std::size_t(args.get_int("limit", 0, 0, 1L << 40));
    if (limit > 0 && limit < in.data.labels.size()) {
        in.data.images = Tensor4(xt::view(in.data.images, xt::range(std::size_t(0), limit)));
        in.data.labels.resize(limit);
        in.names.resize(limit);
    }
    return in;
}

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
        const Inputs in = inputs_of(args);
        const Tensor4& x = in.data.images;
        const Architecture& arch = model.architecture();
        const bool dense = args.flag("dense");
        const Heatmaps maps = dense ? dense_heatmap(model, x, choice, progress_line("dense heatmap")) : coarse_heatmap(model, x, choice);
        if (!png) {
            // One class: H x W (or H' x W'); several: K x H x W; always of the first image.
            Tensor first = xt::view(maps.evidence, 0);
            if (first.shape()[0] == 1) first = xt::view(maps.evidence, 0, 0);
            io::save_npy(output, first);
            return 0;
        }
        const Tensor2 scores = logits(model, x);
        std::vector<Picture> figures;
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
            const std::string truth = in.data.labels[n] >= 0 ? " (true: " + class_label(arch, in, int(in.data.labels[n])) + ")" : "";
            figures.push_back(heatmap_figure(displayable(x, n, in.display), shown, labels,
                                             in.names[n] + truth + " - " + arch.name +
                                                 (dense ? ", exact per-pixel evidence" : ", coarse evidence"),
                                             percentile));
        }
        stacked(figures).save_png(output);
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
        const Inputs in = inputs_of(args, true);
        const auto k = std::size_t(args.get_int("top", 8, 1, 1000));
        const auto batch = std::size_t(args.get_int("batch", 64, 1, 4096));
        const data::TensorDataset memory(in.data.images, in.data.labels, {}, args.get("input", args.get("split", "test")));
        data::BatchStream stream(in.folder ? static_cast<const data::Dataset&>(*in.folder) : memory,
                                 data::StreamOptions::in_order(batch, workers_of(args)));
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
        Inputs in = inputs_of(args);
        const Architecture& arch = model.architecture();
        const std::size_t n = in.size();
        if (args.has("label")) in.data.labels.assign(n, args.get_int("label", -1, 0, arch.classes() - 1));
        std::vector<std::size_t> chosen;
        if (args.has("images")) {
            for (long i : integer_list(args, "images")) {
                require(i >= 0 && std::size_t(i) < n, "--images: image " + std::to_string(i) + " is not among the " + std::to_string(n));
                chosen.push_back(std::size_t(i));
            }
        } else {
            const auto count = std::size_t(args.get_int("count", 4, 1, 1000));
            const bool mistakes = args.flag("mistakes");
            const Tensor2 scores = logits(model, in.data.images);
            for (std::size_t i = 0; i < n && chosen.size() < count; ++i)
                if (!mistakes || (in.data.labels[i] >= 0 && ClassChoice::top_classes(scores, i, 1)[0] != in.data.labels[i]))
                    chosen.push_back(i);
            require(!chosen.empty(), "no misclassified image to explain among the " + std::to_string(n) +
                                         (args.has("labels") || args.has("dataset") ? "" : " (give --labels or --label)"));
        }
        const int top = int(args.get_int("top", 3, 1, arch.classes()));
        const auto patches = std::size_t(args.get_int("patches", 6, 0, 100));
        std::string html, json = "[";
        for (std::size_t i = 0; i < chosen.size(); ++i) {
            const std::size_t index = chosen[i];
            const Explanation e = explain(model, in.data.images, index, top, in.data.labels[index], patches,
                                          [&](int c) { return class_label(arch, in, c); }, in.names[index], in.display);
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
        const Inputs in = inputs_of(args);
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
        const std::string table = to_markdown(benchmark_attributions(model, in.data.images, methods, tile, steps), in.size());
        if (args.has("output")) save_text(args.get("output"), table);
        std::cout << table;
        return 0;
    });
}

}  // namespace bagnet::cli
