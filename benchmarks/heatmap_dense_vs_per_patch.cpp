// The exact full-resolution heatmap two ways, in one run: bagnet::dense_heatmap
// (the a-trous dense evaluation on the cpu backend) against the per-patch definition (one forward pass per
// pixel, here on a sample of pixels, extrapolated to the whole image), and checks
// that the sampled pixels agree. Then coarse heatmaps of a batch of 8 images
// against plain inference (logits) of the same batch.
//
//   heatmap_dense_vs_per_patch [--q 33] [--size 224] [--threads 2] [--sample 128]
//
// Random weights: speed and agreement do not depend on them.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "bagnet/bagnet.hpp"
#include "bagnet/explain/heatmap.hpp"

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
    int q = 33, size = 224, threads = 2, sample = 128;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string name = argv[i];
        const int value = std::atoi(argv[i + 1]);
        if (name == "--q") q = value;
        else if (name == "--size") size = value;
        else if (name == "--threads") threads = value;
        else if (name == "--sample") sample = value;
        else {
            std::fprintf(stderr, "usage: %s [--q 33] [--size 224] [--threads 2] [--sample 128]\n", argv[0]);
            return 2;
        }
    }
    try {
        bagnet::backend::cpu::set_threads(threads);
        bagnet::Model<bagnet::cpu> model(bagnet::imagenet_architecture("bagnet" + std::to_string(q)));
        const auto s = std::size_t(size);
        bagnet::Tensor4 x = xt::zeros<float>({std::size_t(1), std::size_t(3), s, s});
        std::mt19937 rng(0);
        std::normal_distribution<float> normal;
        for (auto& v : x) v = normal(rng);
        const int target = 0;

        auto start = std::chrono::steady_clock::now();
        const auto dense = bagnet::dense_heatmap(model, x, target);
        const double dense_seconds = seconds_since(start);

        // The definition: pad by (q-1)/2, run each q x q patch alone. Sampled pixels
        // spread over the image; batch 1, as the reference runs it.
        const auto half = std::size_t(q - 1) / 2, qq = std::size_t(q);
        bagnet::Tensor4 padded = xt::zeros<float>({std::size_t(1), std::size_t(3), s + qq - 1, s + qq - 1});
        for (std::size_t c = 0; c < 3; ++c)
            for (std::size_t y = 0; y < s; ++y)
                for (std::size_t i = 0; i < s; ++i) padded(0, c, y + half, i + half) = x(0, c, y, i);
        std::uniform_int_distribution<std::size_t> pixel(0, s - 1);
        bagnet::Tensor4 patch = xt::zeros<float>({std::size_t(1), std::size_t(3), qq, qq});
        double worst = 0, scale = 0;
        bagnet::logit_map(model, patch);  // builds the plan outside the timing
        start = std::chrono::steady_clock::now();
        for (int n = 0; n < sample; ++n) {
            const std::size_t y = pixel(rng), i = pixel(rng);
            for (std::size_t c = 0; c < 3; ++c)
                for (std::size_t r = 0; r < qq; ++r)
                    for (std::size_t k = 0; k < qq; ++k) patch(0, c, r, k) = padded(0, c, y + r, i + k);
            const float value = bagnet::logit_map(model, patch)(0, 0, 0, target);
            worst = std::max(worst, double(std::abs(value - dense.evidence(0, 0, y, i))));
            scale = std::max(scale, double(std::abs(value)));
        }
        const double per_patch_seconds = seconds_since(start) / sample * double(s * s);

        std::printf("bagnet%d, %dx%d, %d threads, fp32\n", q, size, size, threads);
        std::printf("| method | seconds per image | speed-up |\n| --- | --- | --- |\n");
        std::printf("| per-patch, one pass per pixel (%d sampled, extrapolated to %zu) | %.1f | 1.0 |\n", sample, s * s,
                    per_patch_seconds);
        std::printf("| dense_heatmap (a-trous evaluation) | %.2f | %.1f |\n", dense_seconds, per_patch_seconds / dense_seconds);
        std::printf("sampled pixels: max |dense - per-patch| = %.3g (max |evidence| %.3g)\n", worst, scale);

        // Coarse heatmaps are one pass, as inference is: compare per image on a batch.
        bagnet::Tensor4 batch = xt::zeros<float>({std::size_t(8), std::size_t(3), s, s});
        for (auto& v : batch) v = normal(rng);
        bagnet::logits(model, batch);
        bagnet::coarse_heatmap(model, batch, bagnet::ClassChoice::top(1));
        start = std::chrono::steady_clock::now();
        bagnet::logits(model, batch);
        const double inference_ms = 1000 * seconds_since(start) / 8;
        start = std::chrono::steady_clock::now();
        bagnet::coarse_heatmap(model, batch, bagnet::ClassChoice::top(1));
        const double coarse_ms = 1000 * seconds_since(start) / 8;
        std::printf("batch of 8: logits %.0f ms/img, coarse_heatmap (predicted class) %.0f ms/img\n", inference_ms, coarse_ms);
        return worst <= 1e-3 * std::max(scale, 1.0) ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "heatmap_dense_vs_per_patch: error: %s\n", e.what());
        return 1;
    }
}
