// Compare attribution methods against ground truth. For most networks nobody
// knows which pixels really mattered; for a BagNet the exact evidence of every
// patch is known, so attribution methods can be scored: mask image regions in the
// order a method ranks them and watch how fast the class logit falls.
//
//   compare_attributions [WEIGHTS.safetensors] [IMAGES]
#include <cstdio>
#include <string>

#include "bagnet/bagnet.hpp"
#include "bagnet/explain.hpp"
#include "bagnet/data/fashion_mnist.hpp"

int main(int argc, char** argv) try {
    const std::size_t images = argc > 2 ? std::stoul(argv[2]) : 4;
    bagnet::BagNet<9, bagnet::fashion<>> model;
    if (argc > 1 && *argv[1]) model.load(argv[1]);  // "" also means: no weights
    else std::printf("no weights given: using random weights\n");

    bagnet::LabelledImages test = bagnet::load_fashion_mnist("test");
    bagnet::normalize_fashion_mnist(test.images);
    const bagnet::Tensor4 x = xt::view(test.images, xt::range(std::size_t(0), images));

    // The first method is the reference: every other is also scored by how well its
    // region ranking agrees with it.
    const std::vector<bagnet::AttributionMethod> methods{
        bagnet::exact_evidence(model),
        bagnet::gradient_method(model),
        bagnet::gradient_times_input_method(model),
        bagnet::integrated_gradients_method(model, 16),
        bagnet::occlusion_method(model, 9, 4),
        bagnet::random_attribution(),
    };
    const int tile = bagnet::output_stride(model.architecture());  // 4 x 4 regions
    std::printf("%s", bagnet::to_markdown(bagnet::benchmark_attributions(model, x, methods, tile, 16), images).c_str());
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "compare_attributions: error: %s\n", e.what());
    return 1;
}
