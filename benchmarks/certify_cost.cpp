// What a patch certificate costs next to the forward pass that makes its logit map: one
// batch through bagnet::logit_map, then bagnet::certify on that map with robust masking
// (T = 0 and T = 0.25) and with clipping.
//
//   certify_cost [--arch fashionfine9] [--size 28] [--batch 64] [--patch 4] [--threads 2]
//   certify_cost --arch bagnet33 --size 224 --batch 4 --patch 32
//
// Random weights, with class 0's bias raised so that every image is certified: a certificate
// checks every window position only when it holds, so that is its full cost.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bagnet/bagnet.hpp"
#include "bagnet/robust.hpp"

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
    std::string arch_name = "fashionfine9";
    int size = 28, batch = 64, patch = 4, threads = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string name = argv[i], value = argv[i + 1];
        if (name == "--arch") arch_name = value;
        else if (name == "--size") size = std::atoi(value.c_str());
        else if (name == "--batch") batch = std::atoi(value.c_str());
        else if (name == "--patch") patch = std::atoi(value.c_str());
        else if (name == "--threads") threads = std::atoi(value.c_str());
        else {
            std::fprintf(stderr, "usage: %s [--arch fashionfine9] [--size 28] [--batch 64] [--patch 4] [--threads 2]\n",
                         argv[0]);
            return 2;
        }
    }
    try {
        bagnet::backend::cpu::set_threads(threads);
        bagnet::Model<bagnet::cpu> model(bagnet::architecture_by_name(arch_name), 1);
        bagnet::Tensor& bias = model.mutable_parameters().at(bagnet::key(model.architecture().head(), bagnet::TensorSlot::bias));
        bias(0) += 1000.f;
        bagnet::Tensor4 x = xt::zeros<float>({std::size_t(batch), std::size_t(model.architecture().in_channels),
                                              std::size_t(size), std::size_t(size)});
        const std::vector<std::int64_t> labels(std::size_t(batch), 0);
        const bagnet::PatchWindow window =
            bagnet::patch_window(model.architecture(), bagnet::PatchSize::square(patch), size, size);
        bagnet::logit_map(model, x);  // the first call plans
        auto start = std::chrono::steady_clock::now();
        const bagnet::Tensor4 map = bagnet::logit_map(model, x);
        const double forward = seconds_since(start);
        std::printf("%s, %d x %d images, batch %d, %d x %d patch: %zu x %zu map, %d x %d window\n", arch_name.c_str(),
                    size, size, batch, patch, patch, map.shape()[1], map.shape()[2], window.height, window.width);
        std::printf("  forward pass (logit map)    %9.3f ms/image\n", 1e3 * forward / batch);
        const std::pair<const char*, bagnet::Defense> defenses[] = {
            {"masking, T = 0", bagnet::MaskingOptions()},
            {"masking, T = 0.25", bagnet::MaskingOptions().threshold(0.25)},
            {"clipping (tanh)", bagnet::ClippingOptions()},
        };
        for (const auto& [name, defense] : defenses) {
            bagnet::certify(map, labels, window, defense);  // warm: the timed run finds its memory mapped
            start = std::chrono::steady_clock::now();
            const auto result = bagnet::certify(map, labels, window, defense);
            const double seconds = seconds_since(start);
            std::size_t certified = 0;
            for (const auto& image : result) certified += image.certified;
            std::printf("  certificate, %-18s %9.3f ms/image (%5.2f%% of the forward pass; %zu of %d certified)\n",
                        name, 1e3 * seconds / batch, 100 * seconds / forward, certified, batch);
        }
    } catch (const bagnet::Error& e) {
        std::fprintf(stderr, "certify_cost: %s\n", e.what());
        return 1;
    }
}
