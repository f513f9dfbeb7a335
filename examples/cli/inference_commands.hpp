#pragma once
// bagnet logits | classify | bench
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>

#include "bagnet/backend/cpu/kernel_log.hpp"
#include "bagnet/data/class_names.hpp"
#include "bagnet/io/atomic_file.hpp"
#include "bagnet/io/image.hpp"
#include "bagnet/io/json.hpp"
#include "bagnet/io/npy.hpp"
#include "options.hpp"

namespace bagnet::cli {

struct LogitsOptions {
    ModelOptions model;
    std::string input, output;
    bool map = false;
    void add_to(CLI::App& c) {
        model.add_to(c, ModelOptions::Weights::required);
        c.add_option("--input", input, "float32 N x C x H x W npy array, normalised")->required();
        c.add_option("--output", output, "npy file: N x classes, or N x H' x W' x classes with --map")->required();
        c.add_flag("--map", map, "write the logit map (every patch's class evidence) instead of the logits");
    }
};

inline void run_logits(const LogitsOptions& o, distributed::Communicator& /*processes: one*/) {
    io::require_writable(o.output);
    on_device(o.model, [&](const auto& model) {
        const Tensor4 x = io::load_npy_images(o.input);
        if (o.map)
            io::save_npy(o.output, logit_map(model, x));
        else
            io::save_npy(o.output, logits(model, x));
    });
}

struct ClassifyOptions {
    ModelOptions model;
    LoadingOptions loading;
    std::vector<std::string> images;
    int topk = 5;
    bool json = false;
    void add_to(CLI::App& c) {
        model.add_to(c, ModelOptions::Weights::required);
        c.add_option("images", images, "PNG or JPEG files (ImageNet preprocessing: resize 256, centre crop 224)")
            ->required();
        c.add_option("--topk", topk, "classes shown per image")->check(CLI::PositiveNumber);
        c.add_flag("--json", json, "print a JSON document instead of text");
        loading.add_max_pixels(c);
    }
};

inline void run_classify(const ClassifyOptions& o, distributed::Communicator& /*processes: one*/) {
    on_device(o.model, [&](const auto& model) {
        const Architecture& arch = model.architecture();
        if (o.topk > arch.classes())
            throw UsageError("--topk " + std::to_string(o.topk) + " is more than the " + std::to_string(arch.classes()) +
                             " classes of " + arch.name);
        // The whole report is made before anything is printed: a bad image among good
        // ones leaves no half-written document behind.
        const data::ClassNames names(arch.classes());
        std::string text;
        io::Json json = io::Json::array();
        char line[512];
        for (std::size_t i = 0; i < o.images.size(); ++i) {
            const auto best =
                top_predictions(model, Tensor4(io::imagenet_preprocess(o.images[i], o.loading.decode())), o.topk)[0];
            text += o.images[i] + "\n";
            io::Json top = io::Json::array();
            for (const auto& [k, p] : best) {
                std::snprintf(line, sizeof line, "  %6.2f%%  %4d  %s\n", 100.0 * p, k, names.name(k).c_str());
                text += line;
                top.push_back({{"class", k}, {"name", names.name(k)}, {"probability", p}});
            }
            json.push_back({{"image", o.images[i]}, {"top", top}});
        }
        std::cout << (o.json ? io::json_text(json) : text) << std::flush;
    });
}

struct BenchOptions {
    ModelOptions model;
    int batch = 1, size = 224, repeat = 5;
    bool map = false, kernels = false;
    void add_to(CLI::App& c) {
        model.add_to(c, ModelOptions::Weights::optional);
        c.add_option("--batch", batch, "images per forward pass")->check(CLI::Range(1, 4096));
        c.add_option("--size", size, "input height and width in pixels")->check(CLI::Range(1, 8192));
        c.add_option("--repeat", repeat, "timed passes (after one untimed pass that builds the plan)")
            ->check(CLI::Range(1, 1000000));
        c.add_flag("--map", map, "time the logit map instead of the logits");
        c.add_flag("--kernels", kernels,
                   "list oneDNN's implementation of every primitive the run created (cpu device; \"ref\" ones are slow)");
    }
};

inline void run_bench(const BenchOptions& o, distributed::Communicator& /*processes: one*/) {
    using clock = std::chrono::steady_clock;
    const auto seconds_since = [](clock::time_point start) {
        return std::chrono::duration<double>(clock::now() - start).count();
    };
    const auto start = clock::now();
    on_device(o.model, [&](const auto& model) {
        const double load = seconds_since(start);
        Tensor4 x = xt::zeros<float>({std::size_t(o.batch), std::size_t(model.architecture().in_channels),
                                      std::size_t(o.size), std::size_t(o.size)});
        std::mt19937 rng(0);
        std::normal_distribution<float> normal;
        for (auto& v : x) v = normal(rng);
        auto run = [&] { return o.map ? logit_map(model, x).size() : logits(model, x).size(); };
        const auto first = clock::now();
        run();  // the first call builds the plan
        const double first_pass = seconds_since(first);
        const auto timed = clock::now();
        for (int i = 0; i < o.repeat; ++i) run();
        const double per_image = seconds_since(timed) / o.repeat / double(o.batch);
        std::printf("%s %s batch %d size %d threads %d: %.2f ms/img, %.2f img/s (start-up: %.3f s to load, %.3f s for "
                    "the first pass)\n",
                    model.architecture().name.c_str(), to_string(model.precision()), o.batch, o.size, o.model.threads,
                    1000 * per_image, 1.0 / per_image, load, first_pass);
    });
    if (o.model.device == "cpu") std::printf("oneDNN dispatches to %s\n", backend::cpu::cpu_isa_name().c_str());
    if (o.kernels && o.model.device == "cpu")
        for (const auto& k : backend::cpu::KernelLog::get().choices())
            std::printf("%-16s %-40s %s\n", k.implementation.c_str(), k.primitive.c_str(), k.shapes.c_str());
}

inline void add_inference_commands(CLI::App& app, distributed::Communicator& processes) {
    add_command<LogitsOptions>(app, processes, Processes::one_only, "logits", "logits (or the logit map) of images in an npy array", run_logits);
    add_command<ClassifyOptions>(app, processes, Processes::one_only, "classify", "the top classes of image files", run_classify);
    add_command<BenchOptions>(app, processes, Processes::one_only, "bench", "inference speed on random inputs", run_bench);
}

}  // namespace bagnet::cli
