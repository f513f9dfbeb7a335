// The input pipeline alone: decode + transform + batch throughput over an image
// folder, as benchmarks/data_pipeline_vs_torchvision.py runs it beside
// torchvision's DataLoader on the same files.
//
//   data_pipeline DIR [--workers N] [--batch B] [--size S] [--transform imagenet|center] [--epochs E]
//
// Prints one line: images, seconds, images/s.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bagnet/data.hpp"

int main(int argc, char** argv) try {
    if (argc < 2) {
        std::fprintf(stderr, "usage: data_pipeline DIR [--workers N] [--batch B] [--size S] [--transform imagenet|center] [--epochs E]\n");
        return 2;
    }
    int workers = 1, size = 224, epochs = 1;
    std::size_t batch = 32;
    std::string transform = "imagenet";
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--workers")) workers = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--batch")) batch = std::size_t(std::atol(argv[i + 1]));
        else if (!std::strcmp(argv[i], "--size")) size = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--transform")) transform = argv[i + 1];
        else if (!std::strcmp(argv[i], "--epochs")) epochs = std::atoi(argv[i + 1]);
    }
    const bagnet::data::ImageFolderDataset set(bagnet::data::scan_image_folder(argv[1]),
                                               transform == "imagenet" ? bagnet::data::ImageTransform::imagenet_train(size)
                                                                       : bagnet::data::ImageTransform::imagenet_eval(size));
    bagnet::data::BatchStream stream(set, bagnet::data::StreamOptions().batch(batch).keep_last(true).with_workers(workers));
    const auto start = std::chrono::steady_clock::now();
    std::size_t images = 0;
    for (int e = 0; e < epochs; ++e)
        for (std::size_t b = 0; b < stream.batches_per_epoch(); ++b) images += stream.batch(std::uint64_t(e), b).labels.size();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("images %zu seconds %.3f images_per_second %.2f\n", images, seconds, double(images) / seconds);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "data_pipeline: error: %s\n", e.what());
    return 1;
}
