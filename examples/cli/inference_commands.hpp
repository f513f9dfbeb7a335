#pragma once
// bagnet logits | classify | bench
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <numeric>
#include <random>

#include "bagnet/io/image.hpp"
#include "bagnet/io/imagenet_classes.hpp"
#include "bagnet/io/json.hpp"
#include "bagnet/io/npy.hpp"
#include "common.hpp"

namespace bagnet::cli {

// A float32 N x C x H x W array from an npy file, or a one-line error.
inline Tensor4 load_input(const std::string& path) {
    const Tensor array = io::load_npy_float(path);
    require(array.dimension() == 4, path + ": expected a float32 N x C x H x W array, got shape " +
                                        shape_string(array.shape()));
    return Tensor4(array);
}

inline int run_logits(const std::vector<std::string>& raw) {
    const Arguments args(raw, with(model_options(), {"input", "output"}), {"map"});
    args.forbid_positional();
    return on_device(args, [&](const auto& model) {
        const Tensor4 x = load_input(args.get("input"));
        const std::string output = args.get("output");
        if (args.flag("map"))
            io::save_npy(output, logit_map(model, x));
        else
            io::save_npy(output, logits(model, x));
        return 0;
    });
}

inline std::string class_name(const Architecture& arch, int index) {
    return arch.classes() == imagenet::classes ? std::string(io::imagenet_class_name(index))
                                               : "class " + std::to_string(index);
}

inline int run_classify(const std::vector<std::string>& raw) {
    const Arguments args(raw, with(model_options(), {"topk", "max-pixels"}), {"json"});
    if (args.positional().empty()) throw UsageError("classify needs at least one image");
    const io::DecodeOptions decode = decode_options_of(args);
    return on_device(args, [&](const auto& model) {
        const int classes = model.architecture().classes();
        const int topk = int(args.get_int("topk", 5, 1, classes));
        const bool json = args.flag("json");
        if (json) std::cout << "[";
        const auto& images = args.positional();
        for (std::size_t i = 0; i < images.size(); ++i) {
            const Tensor2 scores = logits(model, Tensor4(io::imagenet_preprocess(images[i], decode)));
            // Softmax, shifted by the maximum for stability.
            std::vector<double> p(static_cast<std::size_t>(classes));
            const double top = *std::max_element(scores.begin(), scores.end());
            for (int k = 0; k < classes; ++k) p[std::size_t(k)] = std::exp(double(scores(0, k)) - top);
            const double total = std::accumulate(p.begin(), p.end(), 0.0);
            std::vector<int> order(p.size());
            std::iota(order.begin(), order.end(), 0);
            std::partial_sort(order.begin(), order.begin() + topk, order.end(),
                              [&](int a, int b) { return p[std::size_t(a)] > p[std::size_t(b)]; });
            if (json) {
                std::cout << (i ? ",\n " : "\n ") << "{\"image\": " << io::json_string(images[i]) << ", \"top\": [";
                for (int r = 0; r < topk; ++r)
                    std::cout << (r ? ", " : "") << "{\"class\": " << order[std::size_t(r)]
                              << ", \"name\": " << io::json_string(class_name(model.architecture(), order[std::size_t(r)]))
                              << ", \"probability\": " << io::json_number(p[std::size_t(order[std::size_t(r)])] / total)
                              << "}";
                std::cout << "]}";
            } else {
                std::cout << images[i] << "\n";
                for (int r = 0; r < topk; ++r) {
                    const int k = order[std::size_t(r)];
                    std::printf("  %6.2f%%  %4d  %s\n", 100.0 * p[std::size_t(k)] / total, k,
                                class_name(model.architecture(), k).c_str());
                }
            }
        }
        if (json) std::cout << "\n]\n";
        return 0;
    });
}

inline int run_bench(const std::vector<std::string>& raw) {
    const Arguments args(raw, with(model_options(), {"batch", "size", "repeat"}), {"map"});
    args.forbid_positional();
    return on_device(args, [&](const auto& model) {
        const auto batch = std::size_t(args.get_int("batch", 1, 1, 4096));
        const auto size = std::size_t(args.get_int("size", 224, 1, 8192));
        const int repeat = int(args.get_int("repeat", 5, 1, 1000000));
        Tensor4 x = xt::zeros<float>({batch, std::size_t(model.architecture().in_channels), size, size});
        std::mt19937 rng(0);
        std::normal_distribution<float> normal;
        for (auto& v : x) v = normal(rng);
        const bool map = args.flag("map");
        auto run = [&] { return map ? logit_map(model, x).size() : logits(model, x).size(); };
        run();  // the first call builds the plan
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < repeat; ++i) run();
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const double per_image = seconds / repeat / double(batch);
        std::printf("%s %s batch %zu size %zu threads %ld: %.2f ms/img, %.2f img/s\n", model.architecture().name.c_str(),
                    to_string(model.precision()), batch, size, args.get_int("threads", 2, 1, 1024), 1000 * per_image,
                    1.0 / per_image);
        return 0;
    }, false);
}

}  // namespace bagnet::cli
