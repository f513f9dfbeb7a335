// What each analysis costs per image, as a multiple of the forward pass (logits) of the
// same model on the same machine, in one run: the logit map, the coarse and the dense
// heatmap, top patches, explain and certify. Names the CPU and the instruction set
// oneDNN dispatches to (ONEDNN_MAX_CPU_ISA=AVX2 imitates an AVX2 machine).
//
//   analysis_cost [--arch bagnet33] [--size 224] [--batch 8] [--threads 2] [--repeat 3]
//   analysis_cost --arch fashionfine9 --size 28 --batch 64
//
// Random weights (speed does not depend on them), with class 0's bias raised so that every
// image is certified: a certificate checks every window only when it holds, its full cost.
// The batched analyses run on `batch` images, the dense heatmap and explain on one; each is
// timed `repeat` times after one untimed call that builds the plans (the dense heatmap plans
// again in every call, its plans are its own; oneDNN's primitive cache makes that cheap).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
#include <string>

#include "bagnet/bagnet.hpp"
#include "bagnet/data/tensor_dataset.hpp"
#include "bagnet/explain.hpp"
#include "bagnet/robust.hpp"

namespace {

double seconds_of(const std::function<void()>& work, int repeat) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < repeat; ++i) work();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / repeat;
}

std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
    return "unknown CPU";
}

}  // namespace

int main(int argc, char** argv) {
    std::string arch_name = "bagnet33";
    int size = 224, batch = 8, threads = 2, repeat = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string name = argv[i], value = argv[i + 1];
        if (name == "--arch") arch_name = value;
        else if (name == "--size") size = std::atoi(value.c_str());
        else if (name == "--batch") batch = std::atoi(value.c_str());
        else if (name == "--threads") threads = std::atoi(value.c_str());
        else if (name == "--repeat") repeat = std::atoi(value.c_str());
        else {
            std::fprintf(stderr, "usage: %s [--arch bagnet33] [--size 224] [--batch 8] [--threads 2] [--repeat 3]\n",
                         argv[0]);
            return 2;
        }
    }
    if (size < 1 || batch < 1 || threads < 1 || repeat < 1) {
        std::fprintf(stderr, "analysis_cost: --size, --batch, --threads and --repeat must be positive\n");
        return 2;
    }
    try {
        bagnet::backend::cpu::set_threads(threads);
        bagnet::Model<bagnet::cpu> model(bagnet::architecture_by_name(arch_name), 1);
        const bagnet::Architecture& arch = model.architecture();
        model.mutable_parameters().at(bagnet::key(arch.head(), bagnet::TensorSlot::bias))(0) += 1000.f;
        const auto n = std::size_t(batch), s = std::size_t(size);
        bagnet::Tensor4 x = xt::zeros<float>({n, std::size_t(arch.in_channels), s, s});
        std::mt19937 rng(0);
        std::normal_distribution<float> normal;
        for (auto& v : x) v = normal(rng);
        const bagnet::Tensor4 one = xt::view(x, xt::range(0, 1));
        const std::vector<std::int64_t> labels(n, 0);
        const bagnet::data::TensorDataset set(x, labels);
        const bagnet::PatchSize patch = bagnet::PatchSize::square(std::max(1, size / 7));
        bagnet::distributed::SingleProcess alone;
        const bagnet::distributed::ShardOptions batches{n, 1, false};

        std::printf("%s, %d x %d images, batches of %d, %d threads\nCPU: %s; oneDNN dispatches to %s\n",
                    arch.name.c_str(), size, size, batch, threads, cpu_model().c_str(),
                    bagnet::backend::cpu::cpu_isa_name().c_str());
        const auto per_call = [&](const std::function<void()>& work) {
            work();  // builds the plans
            return seconds_of(work, repeat);
        };
        const auto batched = [&](const std::function<void()>& work) { return per_call(work) / double(batch); };
        const double forward = batched([&] { bagnet::logits(model, x); });
        const auto report = [&](const char* what, double per_image) {
            std::printf("  %-44s %10.2f ms/image %8.2fx the forward pass\n", what, 1e3 * per_image,
                        per_image / forward);
        };
        report("forward pass (logits)", forward);
        report("logit map", batched([&] { bagnet::logit_map(model, x); }));
        report("coarse heatmap (top class)",
               batched([&] { bagnet::coarse_heatmap(model, x, bagnet::ClassChoice::top(1)); }));
        report("top patches (10, class 0)", batched([&] { bagnet::top_patches(model, set, {0}, 10, batches, alone); }));
        report(("certify (masking, " + bagnet::to_string(patch) + " patch)").c_str(),
               batched([&] { bagnet::certify(model, set, patch, bagnet::MaskingOptions(), batches, alone); }));
        report("dense heatmap (1 image, top class)",
               per_call([&] { bagnet::dense_heatmap(model, one, bagnet::ClassChoice::top(1)); }));
        const auto explain_one = [&] {
            bagnet::explain(model, one, 0, 3, 0, 5, [](int c) { return std::to_string(c); }, "random");
        };
        report("explain (1 image, top 3 classes, 5 patches)", per_call(explain_one));
    } catch (const bagnet::Error& e) {
        std::fprintf(stderr, "analysis_cost: %s\n", e.what());
        return 1;
    }
}
