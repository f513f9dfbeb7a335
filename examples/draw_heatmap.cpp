// Draw a heatmap: where in a Fashion-MNIST image does a BagNet see evidence for
// the class it predicts?
//
//   draw_heatmap [WEIGHTS.safetensors] [OUT.png]
//
// A BagNet classifies every q x q patch on its own and averages the answers, so its
// evidence for a class has an exact location: dense_heatmap gives the logit of
// the patch centred on every pixel. Without weights the model is random (the
// picture then shows the mechanics, not knowledge).
#include <cstdio>
#include <string>

#include "bagnet/bagnet.hpp"
#include "bagnet/explain.hpp"
#include "bagnet/data/fashion_mnist.hpp"

int main(int argc, char** argv) try {
    const std::string output = argc > 2 ? argv[2] : "heatmap.png";
    bagnet::BagNet<9, bagnet::fashion<>> model;  // q = 9: each logit sees a 9 x 9 patch
    if (argc > 1 && *argv[1]) model.load(argv[1]);  // "" also means: no weights
    else std::printf("no weights given: using random weights\n");

    // One test image, normalised as the model was trained.
    bagnet::LabelledImages test = bagnet::load_fashion_mnist("test");
    bagnet::normalize_fashion_mnist(test.images);
    const bagnet::Tensor4 image = xt::view(test.images, xt::range(0, 1));

    // The predicted class's evidence at every pixel (exact; the a-trous evaluation, explain/dense_evaluation.hpp).
    const bagnet::Heatmaps maps = bagnet::dense_heatmap(model, image, bagnet::ClassChoice::top(1));
    const int predicted = maps.classes[0][0];
    std::printf("true class %lld, predicted %d\n", static_cast<long long>(test.labels[0]), predicted);

    // The paper's display: blue against, red for, limits at the 99th percentile.
    const bagnet::Tensor evidence = xt::view(maps.evidence, 0);  // 1 x 28 x 28
    const bagnet::Display fashion{{bagnet::fashion_mnist_mean}, {bagnet::fashion_mnist_std}};
    bagnet::heatmap_figure(bagnet::displayable(image, 0, fashion), evidence, {"class " + std::to_string(predicted)},
                           "Fashion-MNIST test image 0")
        .save_png(output);
    std::printf("wrote %s\n", output.c_str());
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "draw_heatmap: error: %s\n", e.what());
    return 1;
}
