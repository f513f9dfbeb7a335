#pragma once
// bagnet heatmap | patches | explain | attribute
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <unistd.h>

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

// --class C[,C...] or --top K (exactly one).
inline ClassChoice class_choice_of(const Arguments& args) {
    if (args.has("class") == args.has("top")) throw UsageError("give either --class C[,C...] or --top K");
    if (args.has("top")) return ClassChoice::top(int(args.get_int("top", 1, 1, 1 << 20)));
    std::vector<int> classes;
    const std::string text = args.get("class");
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t comma = std::min(text.find(',', start), text.size());
        const std::string item = text.substr(start, comma - start);
        char* end = nullptr;
        const long value = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0') throw UsageError("--class expects integers separated by commas, got '" + text + "'");
        classes.push_back(int(std::clamp(value, -1L, long(1 << 30))));
        start = comma + 1;
    }
    return classes;
}

// The images to explain: --input X.npy (normalised N x C x H x W) or image files
// (ImageNet preprocessing), and how to show them.
struct Inputs {
    Tensor4 x;
    std::vector<std::string> names;
    Display display;
};

inline Inputs inputs_of(const Arguments& args) {
    if (args.has("input") == !args.positional().empty())
        throw UsageError("give either --input X.npy or image files");
    Inputs in;
    if (args.has("input")) {
        in.x = load_input(args.get("input"));
        for (std::size_t n = 0; n < in.x.shape()[0]; ++n) in.names.push_back(args.get("input") + "[" + std::to_string(n) + "]");
    } else {
        in.x = Tensor4(io::load_images_batch(args.positional()));
        in.names = args.positional();
        in.display = Display::imagenet();
    }
    return in;
}

// "\r"-updated progress on stderr, finished by a newline.
// On a terminal the line updates in place; in a log only the last state is written.
inline HeatmapProgress progress_line(const std::string& what) {
    const bool terminal = ::isatty(STDERR_FILENO) != 0;
    return [what, terminal](std::size_t done, std::size_t total) {
        if (!terminal && done != total) return;
        std::fprintf(stderr, "\r%s: %zu/%zu shifted passes%s", what.c_str(), done, total, done == total ? "\n" : "");
        std::fflush(stderr);
    };
}

// "281 tabby" for ImageNet, "class 3" otherwise.
inline std::string class_label(const Architecture& arch, int index) {
    return arch.classes() == imagenet::classes ? std::to_string(index) + " " + class_name(arch, index) : class_name(arch, index);
}

inline int run_heatmap(const std::vector<std::string>& raw) {
    const Arguments args(raw, with(model_options(), {"input", "class", "top", "output", "percentile"}), {"dense"});
    const std::string output = args.get("output");
    const bool png = ends_with(output, ".png");
    if (!png && !ends_with(output, ".npy")) throw UsageError("--output must end in .npy or .png, got '" + output + "'");
    const ClassChoice choice = class_choice_of(args);
    const double percentile = args.get_double("percentile", 99.0);
    if (!(percentile > 0 && percentile <= 100)) throw UsageError("--percentile must be in (0, 100]");
    require_writable_destination(output);
    const Model<cpu> model = load_model(args);
    const Inputs in = inputs_of(args);
    const Architecture& arch = model.architecture();
    const bool dense = args.flag("dense");
    const Heatmaps maps = dense ? dense_heatmap(model, in.x, choice, progress_line("dense heatmap"))
                                : coarse_heatmap(model, in.x, choice);
    if (!png) {
        // One class: H x W (or H' x W'); several: K x H x W; always of the first image.
        Tensor first = xt::view(maps.evidence, 0);
        if (first.shape()[0] == 1) first = xt::view(maps.evidence, 0, 0);
        io::save_npy(output, first);
        return 0;
    }
    const Tensor2 scores = logits(model, in.x);
    std::vector<Picture> figures;
    for (std::size_t n = 0; n < in.x.shape()[0]; ++n) {
        const std::size_t height = in.x.shape()[2], width = in.x.shape()[3], k = maps.classes[n].size();
        Tensor shown = Tensor::from_shape({k, height, width});
        std::vector<std::string> labels;
        for (std::size_t c = 0; c < k; ++c) {
            const int cls = maps.classes[n][c];
            const Tensor map = xt::view(maps.evidence, n, c);
            xt::view(shown, c) = dense ? map : coarse_to_pixels(map, arch, height, width);
            labels.push_back(class_label(arch, cls) + ": logit " +
                             format_number(scores(n, std::size_t(cls))));
        }
        figures.push_back(heatmap_figure(displayable(in.x, n, in.display), shown, labels,
                                         in.names[n] + " - " + arch.name + (dense ? ", exact per-pixel evidence" : ", coarse evidence"),
                                         percentile));
    }
    stacked(figures).save_png(output);
    return 0;
}

// A labelled data set for `patches`: --dataset fashion-mnist [--split test],
// --input X.npy --labels Y.npy, or --data-dir DIR (DIR/<class>/<image>).
struct DataSet {
    LabelledImages in_memory;
    ImageFolder folder;
    Display display;
    std::vector<std::string> class_names;  // empty: the model's own names
    BatchSource batches(std::size_t batch) const {
        return folder.files.empty() ? tensor_batches(in_memory.images, in_memory.labels, batch)
                                    : image_folder_batches(folder, batch);
    }
};

inline DataSet data_set_of(const Arguments& args) {
    const int sources = int(args.has("dataset")) + int(args.has("input")) + int(args.has("data-dir"));
    if (sources != 1) throw UsageError("give exactly one of --dataset fashion-mnist, --input X.npy --labels Y.npy, --data-dir DIR");
    DataSet data;
    if (args.has("data-dir")) {
        data.folder = scan_image_folder(args.get("data-dir"));
        data.class_names = data.folder.class_names;
        data.display = Display::imagenet();
        return data;
    }
    if (args.has("dataset")) {
        if (args.get("dataset") != "fashion-mnist")
            throw UsageError("unknown --dataset '" + args.get("dataset") + "' (expected fashion-mnist)");
        data.in_memory = io::load_fashion_mnist(args.get("split", "test"));
        normalize_fashion_mnist(data.in_memory.images);
        data.display = {{0.2860f}, {0.3530f}};
    } else {
        data.in_memory.images = load_input(args.get("input"));
        data.in_memory.labels = io::load_npy_int64(args.get("labels"));
    }
    const auto limit = std::size_t(args.get_int("limit", 0, 0, 1L << 40));
    if (limit > 0 && limit < data.in_memory.labels.size()) {
        data.in_memory.images = Tensor4(xt::view(data.in_memory.images, xt::range(std::size_t(0), limit)));
        data.in_memory.labels.resize(limit);
    }
    return data;
}

inline int run_patches(const std::vector<std::string>& raw) {
    const Arguments args(raw, with(model_options(), {"class", "top", "batch", "dataset", "split", "input", "labels",
                                                     "data-dir", "limit", "output-dir"}),
                         {});
    const std::string out = args.get("output-dir");
    require_writable_destination(out + "/patches.json");
    const Model<cpu> model = load_model(args);
    const int cls = int(args.get_int("class", 0, -1, 1 << 30));
    if (!args.has("class")) throw UsageError("missing required option --class");
    const auto k = std::size_t(args.get_int("top", 8, 1, 1000));
    const DataSet data = data_set_of(args);
    const TopPatches top = top_patches(model, data.batches(std::size_t(args.get_int("batch", 64, 1, 4096))), cls, k);
    const std::string name = data.class_names.size() > std::size_t(cls) ? data.class_names[std::size_t(cls)]
                                                                         : class_label(model.architecture(), cls);
    const std::string stem = out + "/patches_class" + std::to_string(cls);
    patch_grid(top, name, data.display).save_png(stem + ".png");
    save_text(stem + ".json", to_json(top, name));
    std::cout << "wrote " << stem << ".png and " << stem << ".json (" << top.images << " images scanned)\n";
    return 0;
}

// Comma-separated integers (--images 0,5,7).
inline std::vector<long> integer_list(const Arguments& args, const std::string& name) {
    std::vector<long> values;
    const std::string text = args.get(name);
    for (std::size_t start = 0; start <= text.size();) {
        const std::size_t comma = std::min(text.find(',', start), text.size());
        const std::string item = text.substr(start, comma - start);
        char* end = nullptr;
        const long value = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0') throw UsageError("--" + name + " expects integers separated by commas, got '" + text + "'");
        values.push_back(value);
        start = comma + 1;
    }
    return values;
}

inline int run_explain(const std::vector<std::string>& raw) {
    const Arguments args(raw, with(model_options(), {"input", "labels", "label", "images", "top", "patches", "output-dir"}),
                         {"mistakes"});
    const std::string out = args.get("output-dir");
    require_writable_destination(out + "/report.html");
    const Model<cpu> model = load_model(args);
    const Inputs in = inputs_of(args);
    const Architecture& arch = model.architecture();
    const std::size_t n = in.x.shape()[0];
    std::vector<std::int64_t> labels(n, -1);
    if (args.has("labels")) labels = io::load_npy_int64(args.get("labels"));
    if (args.has("label")) labels.assign(n, args.get_int("label", -1, 0, arch.classes() - 1));
    require(labels.size() == n, "--labels has " + std::to_string(labels.size()) + " labels for " + std::to_string(n) + " images");
    std::vector<std::size_t> chosen;
    if (args.has("images")) {
        for (long i : integer_list(args, "images")) {
            require(i >= 0 && std::size_t(i) < n, "--images: image " + std::to_string(i) + " is not among the " + std::to_string(n));
            chosen.push_back(std::size_t(i));
        }
    } else {
        const Tensor2 scores = logits(model, in.x);
        for (std::size_t i = 0; i < n && chosen.size() < 8; ++i)
            if (!args.flag("mistakes") || (labels[i] >= 0 && ClassChoice::top_classes(scores, i, 1)[0] != labels[i]))
                chosen.push_back(i);
        require(!chosen.empty(), "no misclassified image to explain among the " + std::to_string(n));
    }
    const int top = int(args.get_int("top", 3, 1, arch.classes()));
    const auto patches = std::size_t(args.get_int("patches", 6, 0, 100));
    std::string html, json = "[";
    for (std::size_t i = 0; i < chosen.size(); ++i) {
        const Explanation e = explain(model, in.x, chosen[i], top, labels[chosen[i]], patches,
                                      [&](int c) { return class_label(arch, c); }, in.names[chosen[i]], in.display);
        html += to_html(e, in.display);
        json += std::string(i ? ",\n " : "\n ") + to_json(e);
    }
    save_text(out + "/report.json", json + "\n]\n");
    save_text(out + "/report.html", html_page(arch.name + " explained", html));
    std::cout << "wrote " << out << "/report.html and " << out << "/report.json\n";
    return 0;
}

inline int run_attribute(const std::vector<std::string>& raw) {
    const Arguments args(raw, with(model_options(), {"input", "tile", "steps", "ig-steps", "window", "stride", "limit", "output"}),
                         {});
    const Model<cpu> model = load_model(args);
    Inputs in = inputs_of(args);
    const auto limit = std::size_t(args.get_int("limit", 0, 0, 1L << 40));
    if (limit > 0 && limit < in.x.shape()[0]) in.x = Tensor4(xt::view(in.x, xt::range(std::size_t(0), limit)));
    const Architecture& arch = model.architecture();
    const int stride = output_stride(arch);
    const int tile = int(args.get_int("tile", stride, 1, 4096));
    const int window = int(args.get_int("window", arch.patch_size, 1, 4096));
    const std::vector<AttributionMethod> methods{
        exact_evidence(model),
        gradient_method(model),
        gradient_times_input_method(model),
        integrated_gradients_method(model, int(args.get_int("ig-steps", 16, 1, 1024))),
        occlusion_method(model, window, int(args.get_int("stride", window / 2 > 0 ? window / 2 : 1, 1, 4096))),
        random_attribution(),
    };
    const std::string table = to_markdown(benchmark_attributions(model, in.x, methods, tile, int(args.get_int("steps", 16, 2, 1024))),
                                          in.x.shape()[0]);
    if (args.has("output")) save_text(args.get("output"), table);
    std::cout << table;
    return 0;
}

}  // namespace bagnet::cli
