// A standard ResNet-50 written with bagnet's layers, against torchvision's resnet50
// (tests/reference/make_resnet_fixture.py: random weights, 10 classes, float64):
// the same keys and shapes, the same logits and logit map on every backend, and the
// same SGD step, tensor by tensor; and the paper's BagNet-vs-CNN agreement measure.
#include <catch2/catch.hpp>

#include <xtensor/xview.hpp>

#include "bagnet/bagnet.hpp"
#include "bagnet/data/tensor_dataset.hpp"
#include "bagnet/explain/geometry.hpp"
#include "bagnet/explain/logit_correlation.hpp"
#include "bagnet/io/npy.hpp"
#include "bagnet/train.hpp"
#include "fixtures.hpp"
#include "pytorch_updates.hpp"

using namespace bagnet;
using bagnet::testing::fixture;
using bagnet::testing::max_relative_error;

namespace {

std::size_t learned_parameter_count(const Architecture& arch) {
    std::size_t count = 0;
    for (const auto& slot : parameter_slots(arch)) {
        if (!slot.trainable()) continue;
        std::size_t elements = 1;
        for (auto d : slot.shape) elements *= d;
        count += elements;
    }
    return count;
}

template <class Backend>
void compare_inference(const std::string& dir) {
    const Model<Backend> model(architecture_by_name("resnet50", 10), dir + "/weights.safetensors");
    const Tensor4 x(io::load_npy_float(dir + "/input.npy"));
    const auto calibrated = bagnet::testing::read_tolerances(dir + "/inference.json");
    const double logits_error = max_relative_error(logits(model, x), io::load_npy_float(dir + "/logits.npy"));
    const double map_error = max_relative_error(logit_map(model, x), io::load_npy_float(dir + "/logit_map.npy"));
    INFO("logits: relative error " << logits_error << ", PyTorch fp32 against fp64 " << calibrated.at("logits"));
    CHECK(logits_error < 1e-4);
    INFO("logit map: relative error " << map_error << ", PyTorch fp32 against fp64 " << calibrated.at("logit_map"));
    CHECK(map_error < 1e-4);
}

}  // namespace

TEST_CASE("ResNet-50 is torchvision's resnet50: keys, sizes, strides", "[resnet]") {
    const Architecture resnet = architecture_by_name("resnet50");
    CHECK(learned_parameter_count(resnet) == 25557032);  // torchvision's count for 1000 classes
    CHECK(parameter_slots(resnet).size() == 320);        // its state_dict's entries
    CHECK(resnet.map_size(224) == 7);
    CHECK(resnet.map_size(1) == 1);  // padding everywhere: any input size runs
    CHECK(output_stride(resnet.graph) == 32);
    CHECK(resnet.patch_size == 0);
    CHECK_THROWS_WITH(output_stride(resnet), Catch::Contains("resnet50 pads its convolutions"));
    // Its checkpoints load through the same checks as the BagNets'.
    const std::string dir = fixture("resnet50");
    CHECK_NOTHROW(Parameters::load(architecture_by_name("resnet50", 10), dir + "/weights.safetensors"));
    CHECK_THROWS_WITH(Parameters::load(architecture_by_name("bagnet9", 10), dir + "/weights.safetensors"),
                      Catch::Contains("does not match bagnet9"));
}

TEMPLATE_TEST_CASE("ResNet-50 inference equals torchvision's on every backend", "[resnet][pytorch]", reference, cpu) {
    compare_inference<TestType>(fixture("resnet50"));
}

TEMPLATE_TEST_CASE("one SGD step of ResNet-50 equals torchvision's: every update and running statistic",
                   "[resnet][pytorch][train]", reference, cpu) {
    const std::string dir = fixture("resnet50");
    const Architecture arch = architecture_by_name("resnet50", 10);
    Model<TestType> model(arch, dir + "/weights.safetensors");
    const train::Batch batch{Tensor4(io::load_npy_float(dir + "/input.npy")), io::load_npy_int64(dir + "/labels.npy"), {}};
    train::Sgd sgd(train::SgdOptions().momentum(0.9).weight_decay(1e-4));
    train::train_step(model, sgd, batch, 0.01, {});
    bagnet::testing::check_updates_match(arch, dir, model.parameters());
}

TEST_CASE("the logit correlation of two models is Pearson's r per image, over batches and data sets",
          "[resnet][explain]") {
    const std::string dir = fixture("resnet50");
    const Model<cpu> resnet(architecture_by_name("resnet50", 10), dir + "/weights.safetensors");
    Model<cpu> bagnet(make_architecture<imagenet>(17, 10), 3);
    const Tensor4 x(io::load_npy_float(dir + "/input.npy"));
    // Pearson's r as the normalised dot product of the centred logit vectors, in xtensor.
    const Tensor2 a = logits(bagnet, x), b = logits(resnet, x);
    const std::vector<double> r = logit_correlations(bagnet, resnet, x);
    REQUIRE(r.size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
        const xt::xtensor<double, 1> da = xt::cast<double>(xt::row(a, i)) - xt::mean(xt::cast<double>(xt::row(a, i)))();
        const xt::xtensor<double, 1> db = xt::cast<double>(xt::row(b, i)) - xt::mean(xt::cast<double>(xt::row(b, i)))();
        const double expected = xt::sum(da * db)() / std::sqrt(xt::sum(da * da)() * xt::sum(db * db)());
        CHECK(r[i] == Approx(expected).epsilon(1e-9));
        CHECK(std::abs(r[i]) <= 1.0);
    }
    for (double self : logit_correlations(resnet, resnet, x)) CHECK(self == Approx(1.0).epsilon(1e-12));
    // Over a data set, one image per batch: each image's number as a batch of its own
    // gives it (oneDNN's arithmetic may differ with the batch size), in data-set order.
    const std::vector<std::int64_t> labels{0, 1};  // the data set refers to them
    const data::TensorDataset dataset(x, labels);
    distributed::SingleProcess one;
    std::vector<double> alone;
    for (std::size_t i = 0; i < 2; ++i)
        alone.push_back(logit_correlations(bagnet, resnet, Tensor4(xt::view(x, xt::range(i, i + 1))))[0]);
    CHECK(logit_correlations(bagnet, resnet, dataset, {1, 1, false}, one) == alone);
    CHECK_THROWS_WITH(logit_correlations(Model<cpu>(architecture_by_name("resnet50", 7)), resnet, x),
                      Catch::Contains("cannot correlate resnet50 (7 classes) with resnet50 (10 classes)"));
}
