#pragma once
// bagnet heatmap | patches | explain | attribute
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include "bagnet/distributed/shard.hpp"
#include "bagnet/explain.hpp"
#include "bagnet/io/output_folder.hpp"
#include "data_options.hpp"
#include "inference_commands.hpp"

namespace bagnet::cli {

// Labels must name classes of the model (or be -1: unknown).
inline void require_labels(const Inputs& in, const Architecture& arch) {
    for (std::size_t i = 0; i < in.size(); ++i)
        require(in.set().label(i) >= -1 && in.set().label(i) < arch.classes(),
                in.name(i) + ": label " + std::to_string(in.set().label(i)) + " is out of range for " + arch.name +
                    " with " + std::to_string(arch.classes()) + " classes");
}

// On a terminal the line updates in place; in a log only the last state is written.
inline HeatmapProgress progress_line(const std::string& what) {
    const bool terminal = ::isatty(STDERR_FILENO) != 0;
    return [what, terminal](std::size_t done, std::size_t total) {
        if (!terminal && done != total) return;
        std::fprintf(stderr, "\r%s: %zu/%zu passes%s", what.c_str(), done, total, done == total ? "\n" : "");
        std::fflush(stderr);
    };
}

// --class C[,C...] or --top K (exactly one).
struct ClassChoiceOptions {
    std::vector<int> classes;
    int top = 0;
    void add_to(CLI::App& c) {
        c.add_option("--class", classes, "the classes shown (comma-separated)")->delimiter(',');
        c.add_option("--top", top, "instead of --class: each image's K highest-scoring classes")
            ->check(CLI::PositiveNumber);
    }
    ClassChoice choice() const {
        if (classes.empty() == (top == 0)) throw UsageError("give either --class C[,C...] or --top K");
        return top > 0 ? ClassChoice::top(top) : ClassChoice(classes);
    }
};

struct HeatmapOptions {
    ModelOptions model;
    DataOptions data;
    ClassChoiceOptions classes;
    std::string output;
    double percentile = 99.0;
    bool dense = false;
    CLI::Option* percentile_given = nullptr;
    void add_to(CLI::App& c) {
        model.add_to(c, ModelOptions::Weights::required);
        data.add_to(c, DataOptions::Use::analysis);
        classes.add_to(c);
        c.add_option("--output", output,
                     "a .png picture of every image, or a .npy array of the first image's maps (H x W, or K x H x W "
                     "for several classes)")
            ->required();
        c.add_flag("--dense", dense, "the exact full-resolution evidence (per pixel), not the coarse logit map");
        percentile_given = c.add_option("--percentile", percentile,
                                        "pictures: the colour scale ends at this percentile of |evidence|");
    }
};

inline void run_heatmap(const HeatmapOptions& o, distributed::Communicator& processes) {
    const bool png = ends_with(o.output, ".png");
    if (!png && !ends_with(o.output, ".npy")) throw UsageError("--output must end in .npy or .png, got '" + o.output + "'");
    if (!png && o.percentile_given->count()) throw UsageError("--percentile is for .png pictures");
    if (!(o.percentile > 0 && o.percentile <= 100)) throw UsageError("--percentile must be in (0, 100]");
    const ClassChoice choice = o.classes.choice();
    if (processes.is_root()) io::require_writable(o.output);
    on_device(o.model, [&](const auto& model) {
        const Inputs in(o.data, o.model.threads);
        const Architecture& arch = model.architecture();
        const data::ClassNames names = in.class_names(arch);
        const auto maps_of = [&](const Tensor4& x) {
            return o.dense ? dense_heatmap(model, x, choice, processes.is_root() ? progress_line("dense heatmap")
                                                                                 : HeatmapProgress())
                           : coarse_heatmap(model, x, choice);
        };
        if (!png) {  // the first image's maps: one H x W (or H' x W'), or K x H x W for several classes
            if (!processes.is_root()) return;
            const Heatmaps maps = maps_of(in.stream(1).gather(0, {0}).images);
            Tensor first = xt::view(maps.evidence, 0);
            if (first.shape()[0] == 1) first = xt::view(maps.evidence, 0, 0);
            io::save_npy(o.output, first);
            return;
        }
        const std::vector<Picture> figures = heatmap_figures(
            model, in.set(), choice, o.dense ? HeatmapKind::dense : HeatmapKind::coarse,
            [&](int c) { return names.label(c); }, in.display, o.percentile, in.shards(config::analysis_batch), processes,
            processes.is_root() && o.dense ? progress_line("dense heatmap") : HeatmapProgress());
        if (!processes.is_root()) return;
        stacked(figures).save_png(o.output);
    });
}

struct PatchesOptions {
    ModelOptions model;
    DataOptions data;
    std::string classes, output_dir;
    std::size_t top = 8, batch = 64;
    void add_to(CLI::App& c) {
        model.add_to(c, ModelOptions::Weights::required);
        data.add_to(c, DataOptions::Use::analysis);
        c.add_option("--class", classes, "the classes (comma-separated), or all")->required();
        c.add_option("--top", top, "patches per class and group")->check(CLI::Range(1, 1000));
        c.add_option("--batch", batch, "images per forward pass")->check(CLI::Range(1, 4096));
        c.add_option("--output-dir", output_dir, "the folder for patches_class<C>.png and .json (made if missing)")->required();
    }
    std::vector<int> chosen(const Architecture& arch) const {  // top_patches checks the range
        std::vector<int> out;
        if (classes == "all") {
            for (int c = 0; c < arch.classes(); ++c) out.push_back(c);
            return out;
        }
        for (const std::string& item : CLI::detail::split(classes, ',')) {
            try {
                std::size_t used = 0;
                out.push_back(std::stoi(item, &used));
                if (used != item.size()) throw std::invalid_argument(item);
            } catch (const std::logic_error&) {
                throw UsageError("--class expects integers separated by commas, or all, got '" + classes + "'");
            }
        }
        return out;
    }
};

inline void run_patches(const PatchesOptions& o, distributed::Communicator& processes) {
    const std::vector<int> classes = o.chosen(o.model.architecture());
    std::optional<io::OutputFolder> folder;
    if (processes.is_root()) folder.emplace(o.output_dir);
    on_device(o.model, [&](const auto& model) {
        const Architecture& arch = model.architecture();
        const Inputs in(o.data, o.model.threads);
        require_labels(in, arch);
        const data::ClassNames names = in.class_names(arch);
        const auto label = [&](int c) { return names.label(c); };
        const auto found = top_patches(model, in.set(), classes, o.top, in.shards(o.batch), processes);
        if (!processes.is_root()) return;
        io::OutputSet outputs;
        std::string report;
        for (const TopPatches& top : found) {
            const std::string name = names.label(top.class_index);
            const std::string stem = o.output_dir + "/patches_class" + std::to_string(top.class_index);
            patch_grid(top, label, in.display).save_png(outputs.stage(stem + ".png"));
            io::write_text(outputs.stage(stem + ".json"), to_json(top, name));
            report += "wrote " + stem + ".png and " + stem + ".json (" + std::to_string(top.images) + " images scanned)\n";
        }
        outputs.commit();
        folder->keep();
        std::cout << report;
    });
}

struct ExplainOptions {
    ModelOptions model;
    DataOptions data;
    std::vector<std::size_t> images;
    std::size_t count = 4, patches = 6;
    int top = 3;
    bool mistakes = false;
    std::string output_dir;
    void add_to(CLI::App& c) {
        model.add_to(c, ModelOptions::Weights::required);
        data.add_to(c, DataOptions::Use::analysis);
        auto* chosen = c.add_option("--images", images, "the images to explain, by position (comma-separated)")
                           ->delimiter(',');
        c.add_option("--count", count, "instead of --images: explain the first N images (or mistakes)")
            ->check(CLI::Range(1, 1000))
            ->excludes(chosen);
        c.add_flag("--mistakes", mistakes, "explain misclassified images only")->excludes(chosen);
        c.add_option("--top", top, "classes explained per image")->check(CLI::PositiveNumber);
        c.add_option("--patches", patches, "patches shown per class")->check(CLI::Range(0, 100));
        c.add_option("--output-dir", output_dir, "the folder for report.html and report.json (made if missing)")->required();
    }
};

inline void run_explain(const ExplainOptions& o, distributed::Communicator& processes) {
    const bool root = processes.is_root();
    std::optional<io::OutputFolder> folder;  // before the outputs: their staged files go first
    if (root) folder.emplace(o.output_dir);
    io::OutputSet outputs;
    const std::string json_path = root ? outputs.stage(o.output_dir + "/report.json") : "";
    const std::string html_path = root ? outputs.stage(o.output_dir + "/report.html") : "";
    on_device(o.model, [&](const auto& model) {
        const Architecture& arch = model.architecture();
        if (o.top > arch.classes())
            throw UsageError("--top " + std::to_string(o.top) + " is more than the " + std::to_string(arch.classes()) +
                             " classes of " + arch.name);
        const Inputs in(o.data, o.model.threads);
        require_labels(in, arch);
        const data::ClassNames names = in.class_names(arch);
        const std::size_t n = in.size();
        std::vector<std::size_t> chosen = o.images;
        for (std::size_t i : chosen)
            require(i < n, "--images: image " + std::to_string(i) + " is not among the " + std::to_string(n));
        if (chosen.empty() && o.mistakes) {
            chosen = first_mistakes(model, in.set(), o.count, in.shards(config::analysis_batch), processes);
            require(!chosen.empty(), "no misclassified image to explain among the " + std::to_string(n) +
                                         (o.data.labels.empty() && o.data.dataset.empty() && o.data.data_dir.empty() &&
                                                  o.data.label < 0
                                              ? " (give --labels or --label)"
                                              : ""));
        }
        if (chosen.empty())
            for (std::size_t i = 0; i < std::min(n, o.count); ++i) chosen.push_back(i);
        // Image i of the chosen is explained by process i mod N.
        const auto parts = distributed::map_units(chosen.size(), processes, [&](std::size_t i) {
            const data::Batch one = in.stream(1).gather(0, {chosen[i]});
            const Explanation e = explain(model, one.images, 0, o.top, one.labels[0], o.patches,
                                          [&](int c) { return names.label(c); }, in.name(chosen[i]), in.display);
            return distributed::Writer().text(to_html(e, in.display)).text(io::json_line(to_json(e))).bytes();
        });
        if (!root) return;
        std::string html;
        io::Json json = io::Json::array();
        for (const std::string& bytes : parts) {
            distributed::Reader part(bytes);
            html += part.text();
            json.push_back(io::Json::parse(part.text()));
        }
        io::write_text(json_path, io::json_text(json));
        io::write_text(html_path, html_page(arch.name + " explained", html));
        outputs.commit();
        folder->keep();
        std::cout << "wrote " << o.output_dir << "/report.html and " << o.output_dir << "/report.json ("
                  << chosen.size() << " images)\n";
    });
}

struct AttributeOptions {
    ModelOptions model;
    DataOptions data;
    int tile = 0, steps = 16, ig_steps = 16, window = 0, stride = 0;
    std::string output;
    void add_to(CLI::App& c) {
        model.add_to(c, ModelOptions::Weights::required);
        data.add_to(c, DataOptions::Use::analysis);
        c.add_option("--tile", tile, "pixel deletion: the side of the masked squares (0: the output stride)")
            ->check(CLI::Range(0, 4096));
        c.add_option("--steps", steps, "pixel deletion: masking increments")->check(CLI::Range(2, 1024));
        c.add_option("--ig-steps", ig_steps, "integrated gradients: points on the path")->check(CLI::Range(1, 1024));
        c.add_option("--window", window, "occlusion: the occluding square's side (0: the patch size q)")
            ->check(CLI::Range(0, 4096));
        c.add_option("--stride", stride, "occlusion: its stride (0: half the window)")->check(CLI::Range(0, 4096));
        c.add_option("--output", output, "also write the table (markdown) here");
    }
};

inline void run_attribute(const AttributeOptions& o, distributed::Communicator& processes) {
    o.model.require_fp32("attribute");
    if (processes.is_root() && !o.output.empty()) io::require_writable(o.output);
    on_device(o.model, [&](const auto& model) {
        const Inputs in(o.data, o.model.threads);
        const Architecture& arch = model.architecture();
        const int window = o.window > 0 ? o.window : arch.patch_size;
        const std::vector<AttributionMethod> methods{
            exact_evidence(model),
            gradient_method(model),
            gradient_times_input_method(model),
            integrated_gradients_method(model, o.ig_steps),
            occlusion_method(model, window, o.stride > 0 ? o.stride : std::max(window / 2, 1)),
            random_attribution(),
        };
        const int tile = o.tile > 0 ? o.tile : output_stride(arch);
        const std::vector<AttributionScore> scores = benchmark_attributions(
            model, in.set(), methods, tile, o.steps, in.shards(config::analysis_batch), processes);
        if (!processes.is_root()) return;
        const std::string table = to_markdown(scores, in.size());
        if (!o.output.empty()) io::write_text(o.output, table);
        std::cout << table;
    });
}

inline void add_explain_commands(CLI::App& app, distributed::Communicator& processes) {
    add_command<HeatmapOptions>(app, processes, Processes::share_work, "heatmap", "class-evidence heatmaps (coarse, or exact per pixel with --dense)",
                                run_heatmap);
    add_command<PatchesOptions>(app, processes, Processes::share_work, "patches", "the most informative patches of classes over a data set",
                                run_patches);
    add_command<ExplainOptions>(app, processes, Processes::share_work, "explain", "explained decisions and mistakes (report.html and report.json)",
                                run_explain);
    add_command<AttributeOptions>(app, processes, Processes::share_work, "attribute", "attribution methods scored against the exact evidence",
                                  run_attribute);
}

}  // namespace bagnet::cli
