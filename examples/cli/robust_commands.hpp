#pragma once
// bagnet certify | attack-patch: a thin layer over bagnet/robust.hpp. Every option is
// checked before the model is loaded; the data's labels and the patch's fit before the
// first forward pass.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include "bagnet/robust.hpp"
#include "bagnet/robust/pixel_ranges.hpp"
#include "explain_commands.hpp"

namespace bagnet::cli {

// What certify and attack-patch share: the model, the data, the patch, the defense, the report.
struct RobustOptions {
    ModelOptions model;
    DataOptions data;
    int patch = 0;
    std::string defense = "masking", output;
    double threshold = 0, clip = std::numeric_limits<double>::infinity();
    std::size_t batch = 64;
    CLI::Option* threshold_given = nullptr;

    void add_to(CLI::App& c) {
        model.add_to(c, ModelOptions::Weights::required);
        data.add_to(c, DataOptions::Use::analysis);
        c.add_option("--patch", patch, "the attacker's patch: P x P pixels, anywhere in the image")
            ->required()
            ->check(CLI::Range(1, 1 << 20));
        c.add_option("--defense", defense, "masking (robust masking, PatchGuard) or clipping (Clipped BagNet)")
            ->check(CLI::IsMember({"masking", "clipping"}));
        threshold_given = c.add_option("--threshold", threshold,
                                       "masking: a class loses its best window when that holds more than T of its "
                                       "evidence; T in [0, 1)");
        c.add_option("--clip", clip,
                     "evidence ceiling C > 0: masking uses clip(L, 0, C) (default: no ceiling), clipping "
                     "clip(L, 0, C) instead of tanh(0.05 L - 1)");
        c.add_option("--batch", batch, "images per forward pass")->check(CLI::Range(1, 4096));
        c.add_option("--output", output, "the JSON report, R.json")->required();
    }

    Defense parsed_defense() const {
        return as_usage_error([&] {
            return defense_by_name(defense, threshold_given->count() ? std::optional<double>(threshold) : std::nullopt,
                                   clip);
        });
    }
};

// Every image has a label, in range, and the patch fits the images.
inline void require_labelled(const Inputs& in, const Architecture& arch, PatchSize patch) {
    require_labels(in, arch);
    for (std::size_t i = 0; i < in.size(); ++i)
        if (in.set().label(i) < 0) throw UsageError(in.name(i) + " has no label: give --labels Y.npy or --label L");
    const data::ItemShape shape = in.set().shape();
    patch_window(arch, patch, int(shape.height), int(shape.width));
}

// "certify: 300/10000 images" on a terminal, updated in place; in a log, the last state only.
// Under mpirun the first process reports its own share of the images.
inline CertifyProgress image_progress(const std::string& what, const distributed::Communicator& processes) {
    if (!processes.is_root()) return {};
    const bool terminal = ::isatty(STDERR_FILENO) != 0;
    const std::string share = processes.size() > 1 ? " (process 1's share, of " + std::to_string(processes.size()) +
                                                         " processes)"
                                                   : "";
    return [what, share, terminal](std::size_t done, std::size_t total) {
        if (!terminal && done != total) return;
        std::fprintf(stderr, "\r%s: %zu/%zu images%s%s", what.c_str(), done, total, share.c_str(),
                     done == total ? "\n" : "");
        std::fflush(stderr);
    };
}

// "masking T 0.25 C 5, 4 x 4 patch (6 x 6 cells)"
inline std::string setting_summary(const Defense& defense, PatchSize patch, PatchWindow window) {
    std::string text = defense_name(defense);
    if (const auto* masking = std::get_if<MaskingOptions>(&defense)) text += " T " + detail::setting(masking->threshold_);
    const double clip = std::visit([](const auto& options) { return options.clip_; }, defense);
    if (!std::isinf(clip)) text += " C " + detail::setting(clip);
    return text + ", " + to_string(patch) + " patch (" + to_string(window) + " cells)";
}

inline void run_certify(const RobustOptions& o, distributed::Communicator& processes) {
    const Defense defense = o.parsed_defense();
    const PatchSize patch = PatchSize::square(o.patch);
    io::require_writable(o.output);
    on_device(o.model, [&](const auto& model) {
        const Inputs in(o.data, o.model.threads);
        require_labelled(in, model.architecture(), patch);
        const CertificationReport report =
            certify(model, in.set(), patch, defense, in.shards(o.batch), processes, image_progress("certify", processes));
        if (!processes.is_root()) return;
        io::write_text(o.output, to_json(report));
        const CertificationSummary s = report.summary();
        std::printf("%s: clean %.4f, robust %.4f, certified %.4f over %zu images; wrote %s\n",
                    setting_summary(defense, patch, report.window).c_str(), s.clean_accuracy, s.robust_accuracy,
                    s.certified_accuracy, s.images, o.output.c_str());
    });
}

struct AttackPatchOptions {
    RobustOptions robust;
    std::vector<int> at;
    int stride = 1, steps = 40;
    double step_size = 0.05;
    std::uint64_t seed = 0;
    std::string normalization;

    void add_to(CLI::App& c) {
        robust.add_to(c);
        auto* position = c.add_option("--at", at, "one patch position Y,X (its top-left pixel)")
                             ->delimiter(',')
                             ->expected(2);
        c.add_option("--stride", stride, "instead of --at: every position on this stride")
            ->check(CLI::Range(1, 1 << 20))
            ->excludes(position);
        c.add_option("--steps", steps, "gradient steps per position")->check(CLI::Range(0, 1 << 20));
        c.add_option("--step-size", step_size, "per step, as a share of the pixel range, in (0, 1]");
        c.add_option("--seed", seed, "of the random starting patches");
        c.add_option("--normalization", normalization,
                     "--input: how its [0, 1] pixels were normalised, fashion-mnist or imagenet (default: by the "
                     "model's channels)")
            ->check(CLI::IsMember({"fashion-mnist", "imagenet"}));
    }

    PatchAttackOptions parsed() const {
        PatchAttackOptions p;
        p.steps(steps).step_size(step_size).stride(stride).seed(seed).batch_size(robust.batch);
        if (!at.empty()) {
            if (at[0] < 0 || at[1] < 0) throw UsageError("--at expects Y,X, the patch's top-left pixel");
            p.at(at[0], at[1]);
        }
        as_usage_error([&] {
            p.validate();
            return 0;
        });
        return p;
    }

    // The values a pixel can take: the data's normalisation of [0, 1] pixels.
    PixelRange pixels(const Architecture& arch, const Inputs& in) const {
        if (!in.display.mean.empty() && normalization.empty())
            return PixelRange::normalised(in.display.mean, in.display.stddev);
        return pixel_range_by_name(normalization, arch.in_channels);
    }
};

inline void run_attack_patch(const AttackPatchOptions& o, distributed::Communicator& processes) {
    o.robust.model.require_fp32("attack-patch");
    const Defense defense = o.robust.parsed_defense();
    const PatchAttackOptions attack = o.parsed();
    const PatchSize patch = PatchSize::square(o.robust.patch);
    io::require_writable(o.robust.output);
    on_device(o.robust.model, [&](const auto& model) {
        const Architecture& arch = model.architecture();
        const Inputs in(o.robust.data, o.robust.model.threads);
        require_labelled(in, arch, patch);
        const PatchAttackReport report =
            attack_patch(model, in.set(), patch, o.pixels(arch, in), defense, attack, in.shards(o.robust.batch),
                         processes, image_progress("attack-patch", processes));
        if (!processes.is_root()) return;
        io::write_text(o.robust.output, to_json(report));
        const PatchAttackSummary s = report.summary();
        std::printf("%s: undefended %.4f -> %.4f under attack, defended %.4f -> %.4f, certified %.4f "
                    "(%zu certified images flipped) over %zu images; wrote %s\n",
                    setting_summary(defense, patch, report.window).c_str(), s.clean_accuracy, s.attacked_accuracy,
                    s.robust_accuracy, s.attacked_robust_accuracy, s.certified_accuracy, s.certified_flipped, s.images,
                    o.robust.output.c_str());
    });
}

inline void add_robust_commands(CLI::App& app, distributed::Communicator& processes) {
    add_command<RobustOptions>(app, processes, Processes::share_work, "certify",
                               "exact per-image certificates against an adversarial P x P patch anywhere (robust "
                               "masking or Clipped BagNet)",
                               run_certify);
    add_command<AttackPatchOptions>(app, processes, Processes::share_work, "attack-patch",
                                    "a projected-gradient patch attack, reported against the defense and its "
                                    "certificates",
                                    run_attack_patch);
}

}  // namespace bagnet::cli
