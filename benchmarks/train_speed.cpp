// Training throughput of one configuration: images per second of full training
// steps (forward, backward, SGD update) on the cpu backend.
//
//   train_speed [--arch bagnet33] [--batch 8] [--size 224] [--steps 3] [--threads 2]
//   mpirun -np N train_speed ...   (built with MPI: --batch is the global batch, each process
//                                   takes its share; also prints the gradient all-reduce's cost)
//
// benchmarks/train_speed_vs_pytorch.py runs it beside PyTorch on the same work,
// benchmarks/distributed_train_vs_ddp.py on several processes beside PyTorch DDP.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "bagnet/bagnet.hpp"
#include "bagnet/distributed/gradient_reduction.hpp"
#include "bagnet/distributed/launch.hpp"
#include "bagnet/train.hpp"

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int run(int argc, char** argv, bagnet::distributed::Communicator& processes) {
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
    bagnet::backend::cpu::set_threads(int(threads));
    bagnet::Model<bagnet::cpu> model(bagnet::architecture_by_name(arch), 0);
    const long ranks = processes.size();
    const auto [begin, end] = bagnet::data::share(std::size_t(batch), processes.rank(), processes.size());
    const long share = long(end - begin);
    bagnet::train::Batch data;
    data.images = bagnet::Tensor4::from_shape(
        {std::size_t(share), std::size_t(model.architecture().in_channels), std::size_t(size), std::size_t(size)});
    std::mt19937 rng(std::uint32_t(processes.rank()));
    std::normal_distribution<float> normal;
    for (auto& v : data.images) v = normal(rng);
    for (long i = 0; i < share; ++i) data.labels.push_back(i % model.architecture().classes());
    bagnet::train::Sgd sgd(bagnet::train::SgdOptions().momentum(0.9).weight_decay(1e-4));
    bagnet::train::TrainOptions options;
    options.processes = &processes;
    bagnet::train::train_step(model, sgd, data, 1e-3, options);  // the first step creates the primitives
    processes.check();
    auto start = std::chrono::steady_clock::now();
    for (long i = 0; i < steps; ++i) bagnet::train::train_step(model, sgd, data, 1e-3, options);
    processes.check();
    const double step_seconds = seconds_since(start) / double(steps);
    if (processes.is_root())
        std::printf("bagnet %s batch %ld size %ld threads %ld processes %ld: %.2f img/s\n", arch.c_str(), batch, size,
                    threads, ranks, double(batch) / step_seconds);
    if (ranks > 1) {  // what the step's gradient exchange costs on its own
        bagnet::train::Gradients gradients;
        std::size_t values = 0;
        for (const std::string& key : bagnet::trainable_keys(model.architecture().graph)) {
            gradients[key] = model.parameters().at(key);
            values += gradients[key].size();
        }
        processes.check();
        start = std::chrono::steady_clock::now();
        for (long i = 0; i < steps; ++i) bagnet::distributed::sum_gradients(gradients, processes);
        const double exchange = seconds_since(start) / double(steps);
        if (processes.is_root())
            std::printf("gradient all-reduce of %zu values (%.1f MB): %.1f ms per step, %.1f%% of the step\n", values,
                        4e-6 * double(values), 1e3 * exchange, 100 * exchange / step_seconds);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) try {
    return bagnet::distributed::on_launched_processes(
        argc, argv, [&](bagnet::distributed::Communicator& processes) { return run(argc, argv, processes); });
} catch (const std::exception& e) {
    std::fprintf(stderr, "train_speed: error: %s\n", e.what());
    return 1;
}
