#pragma once
// bagnet certify | attack-patch: a thin layer over bagnet/robust.hpp. Each command's options
// are read by robust_settings (and attack_options) before the model is loaded.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <unistd.h>

#include "bagnet/robust.hpp"
#include "explain_commands.hpp"

namespace bagnet::cli {

inline std::set<std::string> defense_options() { return {"patch", "defense", "threshold", "clip", "batch", "output", "label"}; }

// What certify and attack-patch share: the data, the patch, the defense, the report's path.
struct RobustSettings {
    PatchSize patch;
    Defense defense;
    std::size_t batch = 64;
    std::string output;
};

inline RobustSettings robust_settings(const Arguments& args) {
    RobustSettings s;
    s.output = args.get("output");
    if (!args.has("patch")) throw UsageError("missing required option --patch (the patch side in pixels)");
    s.patch = PatchSize::square(int(args.get_int("patch", 1, 1, 1 << 20)));
    const std::string defense = args.get("defense", "masking");
    const double clip = args.get_double("clip", std::numeric_limits<double>::infinity());
    if (defense == "masking") {
        s.defense = MaskingOptions().threshold(args.get_double("threshold", 0)).clip(clip);
    } else if (defense == "clipping") {
        if (args.has("threshold")) throw UsageError("--threshold applies to --defense masking only");
        s.defense = ClippingOptions().clip(clip);
    } else {
        throw UsageError("unknown --defense '" + defense + "' (expected masking or clipping)");
    }
    try {
        validate(s.defense);
    } catch (const Error& e) {
        throw UsageError(e.what());
    }
    s.batch = std::size_t(args.get_int("batch", 64, 1, 1 << 16));
    require_writable_destination(s.output);
    return s;
}

// The data with a label for every image, in range, and a patch that fits the images: all
// checked before the first forward pass.
inline Inputs labelled_inputs(const Arguments& args, const Architecture& arch, PatchSize patch) {
    Inputs in = inputs_of(args, true);
    if (args.has("label")) {
        if (!in.folder.files.empty()) throw UsageError("--label is for image files and --input; --data-dir labels by folder");
        in.data.labels.assign(in.size(), args.get_int("label", 0, 0, arch.classes() - 1));
    }
    if (!in.folder.files.empty()) {
        require(int(in.folder.class_names.size()) <= arch.classes(),
                args.get("data-dir") + " has " + std::to_string(in.folder.class_names.size()) + " classes, " +
                    arch.name + " " + std::to_string(arch.classes()));
        const int side = 224;  // the folder's images are preprocessed to ImageNet's crop
        patch_window(arch, patch, side, side);
        return in;
    }
    for (std::size_t i = 0; i < in.data.labels.size(); ++i) {
        const std::int64_t label = in.data.labels[i];
        if (label < 0) throw UsageError("image " + std::to_string(i) + " has no label: give --labels Y.npy or --label L");
        require(label < arch.classes(), "label " + std::to_string(label) + " of image " + std::to_string(i) +
                                            " is out of range for " + std::to_string(arch.classes()) + " classes");
    }
    patch_window(arch, patch, int(in.data.images.shape()[2]), int(in.data.images.shape()[3]));
    return in;
}

// "certify: 300/10000 images" on a terminal, updated in place; in a log, the last line only.
inline CertifyProgress image_progress(const std::string& what, std::size_t total) {
    const bool terminal = ::isatty(STDERR_FILENO) != 0;
    return [what, total, terminal](std::size_t done) {
        if (!terminal && done != total) return;
        std::fprintf(stderr, "\r%s: %zu/%zu images%s", what.c_str(), done, total, done == total ? "\n" : "");
        std::fflush(stderr);
    };
}

inline std::string defense_summary(const Defense& defense, PatchSize patch, PatchWindow window) {
    std::string text = defense_name(defense);
    if (const auto* masking = std::get_if<MaskingOptions>(&defense)) text += " T " + detail::setting(masking->threshold_);
    const double clip = std::visit([](const auto& options) { return options.clip_; }, defense);
    if (!std::isinf(clip)) text += " C " + detail::setting(clip);
    return text + ", " + to_string(patch) + " patch (" + to_string(window) + " cells)";
}

inline int run_certify(const std::vector<std::string>& raw) {
    const Arguments args(raw, with(with(model_options(), explain_data_options()), defense_options()), {});
    const RobustSettings s = robust_settings(args);
    return on_device(args, [&](const auto& model) {
        const Inputs in = labelled_inputs(args, model.architecture(), s.patch);
        const CertificationReport report =
            certify(model, in.batches(s.batch), s.patch, s.defense, image_progress("certify", in.size()));
        save_text(s.output, to_json(report));
        const CertificationSummary sum = report.summary();
        std::printf("%s: clean %.4f, robust %.4f, certified %.4f over %zu images; wrote %s\n",
                    defense_summary(s.defense, s.patch, report.window).c_str(), sum.clean_accuracy,
                    sum.robust_accuracy, sum.certified_accuracy, sum.images, s.output.c_str());
        return 0;
    });
}

// The attack's own options.
inline PatchAttackOptions attack_options(const Arguments& args) {
    PatchAttackOptions o;
    o.steps(int(args.get_int("steps", 40, 0, 1 << 20)))
        .step_size(args.get_double("step-size", 0.05))
        .stride(int(args.get_int("stride", 1, 1, 1 << 20)))
        .seed(std::uint64_t(args.get_int("seed", 0, 0, 1L << 40)))
        .batch_size(std::size_t(args.get_int("batch", 64, 1, 1 << 16)));
    if (args.has("at")) {
        if (args.has("stride")) throw UsageError("give --at Y,X or --stride S, not both");
        const std::vector<long> at = integer_list(args, "at");
        if (at.size() != 2 || at[0] < 0 || at[1] < 0) throw UsageError("--at expects Y,X (the patch's top-left pixel)");
        o.at(int(std::min(at[0], 1L << 20)), int(std::min(at[1], 1L << 20)));
    }
    try {
        o.validate();
    } catch (const Error& e) {
        throw UsageError(e.what());
    }
    return o;
}

// The values a pixel can take: Fashion-MNIST's or ImageNet's normalisation of [0, 1] pixels
// (for --input, --normalization says which; by default the one of the model's channel count).
inline PixelRange pixel_range(const Arguments& args, const Architecture& arch, const Inputs& in) {
    Display pixels = in.display;
    if (pixels.mean.empty() || args.has("normalization")) {
        const std::string name = args.get("normalization", arch.in_channels == 1 ? "fashion-mnist" : "imagenet");
        if (name == "fashion-mnist") pixels = {{fashion_mnist_mean}, {fashion_mnist_std}};
        else if (name == "imagenet") pixels = Display::imagenet();
        else throw UsageError("unknown --normalization '" + name + "' (expected fashion-mnist or imagenet)");
    }
    return PixelRange::normalised(pixels.mean, pixels.stddev);
}

inline int run_attack_patch(const std::vector<std::string>& raw) {
    const Arguments args(raw,
                         with(with(model_options(), explain_data_options()),
                              with(defense_options(), {"at", "stride", "steps", "step-size", "seed", "normalization"})),
                         {});
    const RobustSettings s = robust_settings(args);
    const PatchAttackOptions options = attack_options(args);
    return on_device(args, [&](const auto& model) {
        const Architecture& arch = model.architecture();
        const Inputs in = labelled_inputs(args, arch, s.patch);
        const PatchAttackReport report =
            attack_patch(model, in.batches(s.batch), s.patch, pixel_range(args, arch, in), s.defense, options,
                                                      image_progress("attack-patch", in.size()));
        save_text(s.output, to_json(report));
        const PatchAttackSummary sum = report.summary();
        std::printf("%s: undefended %.4f -> %.4f under attack, defended %.4f -> %.4f, certified %.4f "
                    "(%zu certified images flipped) over %zu images; wrote %s\n",
                    defense_summary(s.defense, s.patch, report.window).c_str(), sum.clean_accuracy,
                    sum.attacked_accuracy, sum.robust_accuracy, sum.attacked_robust_accuracy, sum.certified_accuracy,
                    sum.certified_flipped, sum.images, s.output.c_str());
        return 0;
    });
}

}  // namespace bagnet::cli
