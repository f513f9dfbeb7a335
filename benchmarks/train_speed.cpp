// Training throughput of one configuration: images per second of full training
// steps (forward, backward, SGD update) on the cpu backend.
//
//   train_speed [--arch bagnet33] [--batch 8] [--size 224] [--steps 3] [--threads 2]
//
// benchmarks/train_speed_vs_pytorch.py runs it beside PyTorch on the same work.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "bagnet/bagnet.hpp"
#include "bagnet/train.hpp"

int main(int argc, char** argv) try {
    std::string arch = "bagnet33";
    long batch = 8, size = 224, steps = 3, threads = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string name = argv[i];
        if (name == "--arch") arch = argv[i + 1];
        else if (name == "--batch") batch = std::atol(argv[i + 1]);
        else if (name == "--size") size = std::atol(argv[i + 1]);
        else if (name == "--steps") steps = std::atol(argv[i + 1]);
        else if (name == "--threads") threads = std::atol(argv[i + 1]);
    }
    bagnet::onednn::set_threads(int(threads));
    bagnet::Model<bagnet::cpu> model(bagnet::architecture_by_name(arch), 0);
    bagnet::train::Batch data;
    data.images = bagnet::Tensor4::from_shape(
        {std::size_t(batch), std::size_t(model.architecture().in_channels), std::size_t(size), std::size_t(size)});
    std::mt19937 rng(0);
    std::normal_distribution<float> normal;
    for (auto& v : data.images) v = normal(rng);
    for (long i = 0; i < batch; ++i) data.labels.push_back(i % model.architecture().classes());
    bagnet::train::Sgd sgd(bagnet::train::SgdOptions().momentum(0.9).weight_decay(1e-4));
    bagnet::train::train_step(model, sgd, data, 1e-3);  // the first step creates the primitives
    const auto start = std::chrono::steady_clock::now();
    for (long i = 0; i < steps; ++i) bagnet::train::train_step(model, sgd, data, 1e-3);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("bagnet %s batch %ld size %ld threads %ld: %.2f img/s\n", arch.c_str(), batch, size, threads,
                double(batch * steps) / seconds);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "train_speed: error: %s\n", e.what());
    return 1;
}
