// Mine the most informative patches of a class over a data set, as the BagNet
// paper does: the patches with the most evidence for "sneaker" among sneakers,
// and among everything else (what could fool the model).
//
//   mine_patches [WEIGHTS.safetensors] [OUT_PREFIX] [IMAGES]
//
// The data set is streamed in batches; only the k best patches are kept, so memory
// does not grow with the data set.
#include <cstdio>
#include <string>

#include "bagnet/bagnet.hpp"
#include "bagnet/explain.hpp"
#include "bagnet/data/tensor_dataset.hpp"
#include "bagnet/data/fashion_mnist.hpp"

int main(int argc, char** argv) try {
    const std::string prefix = argc > 2 ? argv[2] : "patches";
    const std::size_t images = argc > 3 ? std::stoul(argv[3]) : 1000;
    bagnet::BagNet<9, bagnet::fashion<>> model;
    if (argc > 1 && *argv[1]) model.load(argv[1]);  // "" also means: no weights
    else std::printf("no weights given: using random weights\n");

    bagnet::LabelledImages test = bagnet::load_fashion_mnist("test");
    bagnet::normalize_fashion_mnist(test.images);
    test.images = xt::view(test.images, xt::range(std::size_t(0), images));
    test.labels.resize(images);

    const int sneaker = 7;  // Fashion-MNIST labels: 7 is "sneaker"
    // The test set streamed 100 images at a time, in order.
    const bagnet::data::TensorDataset test_set(test, {}, "test");
    bagnet::data::BatchStream stream(test_set, bagnet::data::StreamOptions::in_order(100));
    const bagnet::TopPatches top = bagnet::top_patches(model, stream, sneaker, 8);
    std::printf("best sneaker patch: evidence %.3f in image %zu at (%d, %d)\n", top.of_class[0].score,
                top.of_class[0].image, top.of_class[0].y, top.of_class[0].x);

    const auto name = [](int c) { return bagnet::fashion_mnist_class_names()[std::size_t(c)]; };
    bagnet::patch_grid(top, name, bagnet::Display{{bagnet::fashion_mnist_mean}, {bagnet::fashion_mnist_std}}).save_png(prefix + ".png");
    bagnet::io::write_text(prefix + ".json", bagnet::to_json(top, "sneaker"));
    std::printf("wrote %s.png and %s.json\n", prefix.c_str(), prefix.c_str());
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "mine_patches: error: %s\n", e.what());
    return 1;
}
