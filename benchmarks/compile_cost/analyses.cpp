// A consumer translation unit that uses every part: a dense heatmap and its picture, a
// certificate, a training step. benchmarks/compile_cost.py compiles it header-only and
// against bagnet::compiled.
#include <bagnet/bagnet.hpp>
#include <bagnet/data.hpp>
#include <bagnet/explain.hpp>
#include <bagnet/robust.hpp>
#include <bagnet/train.hpp>

#include <iostream>

int main() {
    bagnet::BagNet<9, bagnet::small<10, 1>> model;
    bagnet::Tensor4 images = xt::zeros<float>({std::size_t(2), std::size_t(1), std::size_t(28), std::size_t(28)});
    const bagnet::Heatmaps maps = bagnet::dense_heatmap(model, images, bagnet::ClassChoice::top(1));
    std::cout << "heatmap " << bagnet::shape_string(maps.evidence.shape()) << "\n";

    const std::vector<std::int64_t> labels{0, 1};
    const bagnet::data::TensorDataset data(images, labels);
    bagnet::data::BatchStream stream(data, bagnet::data::StreamOptions::in_order(2));
    const auto report = bagnet::certify(model, stream, bagnet::PatchSize::square(4), bagnet::MaskingOptions{});
    std::cout << "certified accuracy " << report.summary().certified_accuracy << "\n";

    bagnet::train::Sgd sgd;
    const auto step = bagnet::train::train_step(model, sgd, stream.batch(0, 0), 0.1);
    std::cout << "loss " << step.loss << "\n";
}
