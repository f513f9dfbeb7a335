// Classify an image with an ImageNet BagNet, and see which patches decided it.
//
//   classify_image IMAGE [WEIGHTS.safetensors [Q]]
//
// Weights are the published checkpoints converted with tools/convert_checkpoint.py;
// without them the model is random (the mechanics still run end to end).
#include <cstdio>
#include <string>

#include "bagnet/bagnet.hpp"
#include "bagnet/explain.hpp"
#include "bagnet/io/image.hpp"
#include "bagnet/io/imagenet_classes.hpp"

#include <xtensor/xsort.hpp>

int main(int argc, char** argv) try {
    if (argc < 2) {
        std::fprintf(stderr, "usage: classify_image IMAGE [WEIGHTS.safetensors [Q]]\n");
        return 2;
    }
    // The architecture is a run-time choice here: q = 9, 17 or 33.
    const int q = argc > 3 ? std::stoi(argv[3]) : 33;
    bagnet::Model<bagnet::cpu> model(bagnet::imagenet_architecture("bagnet" + std::to_string(q)));
    if (argc > 2 && *argv[2]) model.load(argv[2]);  // "" also means: no weights
    else std::printf("no weights given: using random weights\n");

    // torchvision's evaluation pipeline: shorter side 256, centre crop 224, normalise.
    const bagnet::Tensor4 x(bagnet::io::imagenet_preprocess(argv[1]));

    // The coarse map is one pass: every q x q patch's logits. The image's logits are its mean.
    const bagnet::Heatmaps maps = bagnet::coarse_heatmap(model, x, bagnet::ClassChoice::top(5));
    const bagnet::Tensor2 scores = bagnet::logits(model, x);
    for (int c : maps.classes[0])
        std::printf("%8.3f  %4d  %s\n", scores(0, std::size_t(c)), c, std::string(bagnet::io::imagenet_class_name(c)).c_str());

    // The patch with the most evidence for the top class.
    const bagnet::Tensor top = xt::view(maps.evidence, 0, 0);
    const auto best = std::size_t(xt::argmax(top)());
    const int stride = bagnet::output_stride(model.architecture());
    std::printf("strongest patch for %s: the %dx%d patch at (%zu, %zu)\n",
                std::string(bagnet::io::imagenet_class_name(maps.classes[0][0])).c_str(), q, q, best / top.shape()[1] * std::size_t(stride), best % top.shape()[1] * std::size_t(stride));
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "classify_image: error: %s\n", e.what());
    return 1;
}
