// BagNet-33 on the `cuda` backend: throughput, batch-1 latency and the exact dense
// heatmap, in fp32, fp32 with TF32 tensor cores, and bf16; then fp32 training
// steps (SGD, training-mode batch norm) at batch 32. Every time includes the
// copies between host and GPU (host in, host out).
// benchmarks/cuda/cuda_vs_pytorch.py runs this next to PyTorch on the same GPU.
//
//   cuda_speed [--batch 128] [--size 224] [--repeat 10] [--heatmaps 2] [--profile 1]
//
// Prints one "result NAME VALUE UNIT" line per measurement; --profile 1 also the
// time of every convolution step at the given batch, per setting. Random weights: the
// speed does not depend on them.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "bagnet/backend/cuda/executor.hpp"
#include "bagnet/backend/cuda/training.hpp"
#include "bagnet/explain/heatmap.hpp"
#include "bagnet/inference.hpp"
#include "bagnet/train/loop.hpp"
#include "bagnet/train/optimizer.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using Net = bagnet::BagNet<33, bagnet::imagenet, bagnet::cuda>;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

bagnet::Tensor4 random_images(std::size_t n, std::size_t size) {
    bagnet::Tensor4 x = xt::zeros<float>({n, std::size_t(3), size, size});
    std::mt19937 rng(0);
    std::normal_distribution<float> normal;
    for (auto& v : x) v = normal(rng);
    return x;
}

struct Setting {
    const char* name;
    bagnet::Precision precision;
    bool tf32;
};

void configure(Net& model, const Setting& s) {
    model.precision(s.precision);
    model.executor().allow_tf32(s.tf32);
}

// Seconds per call of logits on x, after one untimed call that builds the plan.
double seconds_per_batch(const Net& model, const bagnet::Tensor4& x, int repeat) {
    bagnet::logits(model, x);
    const auto start = Clock::now();
    for (int i = 0; i < repeat; ++i) bagnet::logits(model, x);
    return seconds_since(start) / repeat;
}

}  // namespace

int main(int argc, char** argv) {
    int batch = 128, size = 224, repeat = 10, heatmaps = 2, profile = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string name = argv[i];
        const int value = std::atoi(argv[i + 1]);
        if (name == "--batch") batch = value;
        else if (name == "--size") size = value;
        else if (name == "--repeat") repeat = value;
        else if (name == "--heatmaps") heatmaps = value;
        else if (name == "--profile") profile = value;
        else {
            std::fprintf(stderr, "usage: %s [--batch 128] [--size 224] [--repeat 10] [--heatmaps 2] [--profile 1]\n",
                         argv[0]);
            return 2;
        }
    }
    if (batch < 1 || size < 33 || repeat < 1 || heatmaps < 1) {
        std::fprintf(stderr, "cuda_speed: --batch, --repeat and --heatmaps must be positive and --size at least 33\n");
        return 2;
    }
    try {
        Net model;
        const Setting settings[] = {{"fp32", bagnet::Precision::fp32, false},
                                    {"tf32", bagnet::Precision::fp32, true},
                                    {"bf16", bagnet::Precision::bf16, false}};
        const auto many = random_images(std::size_t(batch), std::size_t(size));
        const auto one = random_images(1, std::size_t(size));
        for (const auto& s : settings) {
            configure(model, s);
            std::printf("result throughput_%s %.1f img/s\n", s.name, batch / seconds_per_batch(model, many, repeat));
            std::printf("result latency_%s %.3f ms\n", s.name, 1000 * seconds_per_batch(model, one, 5 * repeat));
            if (profile)
                std::printf("profile %s batch %d:\n%s", s.name, batch,
                            model.executor().profile(model.architecture(), model.parameters(), many, s.precision).c_str());
            std::fflush(stdout);
        }
        const auto images = random_images(std::size_t(heatmaps), std::size_t(size));
        for (const auto& s : settings) {
            configure(model, s);
            bagnet::dense_heatmap(model, one, 0);  // builds the plan for the shifted crops
            const auto start = Clock::now();
            bagnet::dense_heatmap(model, images, 0);
            std::printf("result dense_heatmap_%s %.4f s/image\n", s.name, seconds_since(start) / heatmaps);
            std::fflush(stdout);
        }
        Net trained;
        bagnet::train::Sgd sgd(bagnet::train::SgdOptions().momentum(0.9).weight_decay(1e-4));
        const std::size_t train_batch = 32;
        bagnet::train::Batch batch{random_images(train_batch, std::size_t(size)), {}, {}};
        for (std::size_t i = 0; i < train_batch; ++i) batch.labels.push_back(std::int64_t(i % 1000));
        bagnet::train::train_step(trained, sgd, batch, 1e-3);  // builds the convolution plans
        const auto start = Clock::now();
        for (int i = 0; i < 3; ++i) bagnet::train::train_step(trained, sgd, batch, 1e-3);
        std::printf("result train_fp32 %.1f img/s\n", 3.0 * train_batch / seconds_since(start));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "cuda_speed: %s\n", e.what());
        return 1;
    }
    return 0;
}
