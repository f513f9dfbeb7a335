#pragma once
// bagnet heatmap | patches | explain | attribute
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <unistd.h>

#include "bagnet/explain.hpp"
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
inline HeatmapProgress progress_line(const std::string& what) {
    return [what](std::size_t done, std::size_t total) {
        std::fprintf(stderr, "\r%s: %zu/%zu shifted passes", what.c_str(), done, total);
        if (done == total) std::fprintf(stderr, "\n");
        std::fflush(stderr);
    };
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
            labels.push_back(std::to_string(cls) + " " + class_name(arch, cls) + ": logit " +
                             format_number(scores(n, std::size_t(cls))));
        }
        figures.push_back(heatmap_figure(displayable(in.x, n, in.display), shown, labels,
                                         in.names[n] + " - " + arch.name + (dense ? ", exact per-pixel evidence" : ", coarse evidence"),
                                         percentile));
    }
    stacked(figures).save_png(output);
    return 0;
}

}  // namespace bagnet::cli
