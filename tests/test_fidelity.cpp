// bagnet's float32 gradients against float64, measured beside PyTorch's own float32
// (tests/reference/make_fidelity_fixture.py): ResNet-50 and BagNet-17, the eval-mode input
// gradient and one SGD step, each within 1.5x of PyTorch's distance from float64 (the larger of
// its contiguous and channels-last runs: its own summation orders differ by up to 2x).
//
// What float32 rounding does to a gradient has two parts. Rounding proper: about 1e-6 for the
// input gradient, the same for bagnet and PyTorch. And chance: a ReLU input within rounding of
// zero gets its sign from the rounding, and a flipped ReLU moves the whole gradient below it by
// 1e-3 or more. Eval-mode ResNet-50 without residual scaling (torchvision's initialisation) flips
// one in about 1 run in 8 at 2 x 3 x 64 x 64, bagnet and PyTorch alike (2 and 3 of 19 draws;
// issue 20's 5x was such a draw); training-mode batch norm over a few values per channel amplifies
// forward rounding several hundredfold through ResNet-50 (2e-7 at conv1, 1e-4 at layer4, 1.1x
// PyTorch's in bagnet), so that flips decide most training steps.
// In evaluation mode the fixtures' models have no ReLU input within rounding of zero (both
// distances are rounding alone, under every instruction set), so 1.5x is a measure there; the SGD
// step runs batch norm in evaluation mode too. In training mode PyTorch's own two
// layouts land up to 5x apart on one draw (bagnet sits between them: geometric means over 8 draws
// of the training-mode input gradient 1.1e-2, PyTorch 1.4e-2 and 2.7e-2); test_resnet.cpp and
// test_train_pytorch.cpp bound training-mode steps per tensor against PyTorch's spread.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "bagnet/bagnet.hpp"
#include "bagnet/io/npy.hpp"
#include "bagnet/train.hpp"
#include "fixtures.hpp"
#include "pytorch_updates.hpp"

using namespace bagnet;
using bagnet::testing::fixture;
using bagnet::testing::norm_relative_error;
using bagnet::testing::read_tolerances;

namespace {

constexpr double within = 1.5;  // bagnet's distance from float64 / PyTorch float32's

void check_input_gradient(const Architecture& arch, const std::string& dir) {
    const Model<cpu> model(arch, dir + "/weights.safetensors");
    const Tensor4 x(io::load_npy_float(dir + "/input.npy"));
    std::vector<int> classes;
    for (auto c : io::load_npy_int64(dir + "/labels.npy")) classes.push_back(int(c));
    const double pytorch = read_tolerances(dir + "/fidelity.json").at("input_gradient");
    const Tensor expected = io::load_npy_float(dir + "/input_gradient.npy");
    const double error = norm_relative_error(input_gradient(model, x, classes), expected);
    INFO(arch.name << " input gradient: bagnet " << error << " from float64, PyTorch fp32 " << pytorch);
    CHECK(error < within * pytorch);
}

// One SGD step (lr 1: see the fixture) with batch norm in evaluation mode, as fine-tuning runs it.
void check_sgd_step(const Architecture& arch, const std::string& dir) {
    const Parameters before = Parameters::load(arch, dir + "/weights.safetensors");
    const Parameters expected = Parameters::load(arch, dir + "/update.safetensors");
    const auto pytorch = read_tolerances(dir + "/fidelity.json");
    Model<cpu> model(arch, dir + "/weights.safetensors");
    const train::Batch batch{Tensor4(io::load_npy_float(dir + "/input.npy")),
                             io::load_npy_int64(dir + "/labels.npy"), {}};
    train::Sgd sgd(train::SgdOptions().momentum(0.9).weight_decay(1e-4));
    train::TrainOptions options;
    options.batch_norm = train::Mode::evaluation;
    train::train_step(model, sgd, batch, 1.0, options);
    // All trainable tensors' updates as one vector; and each tensor's (running statistics too).
    double difference = 0, norm = 0;
    std::vector<double> ratios;
    for (const auto& slot : parameter_slots(arch)) {
        if (slot.is_counter()) continue;
        const Tensor update = model.parameters().at(slot.key) - before.at(slot.key);
        const Tensor& exact = expected.at(slot.key);
        const double error = norm_relative_error(update, exact), reference = pytorch.at(slot.key);
        INFO(slot.key << ": bagnet " << error << ", PyTorch fp32 " << reference);
        if (reference == 0) {  // a tensor the step leaves as it is: the running statistics
            CHECK(error == 0);
            continue;
        }
        ratios.push_back(error / reference);
        if (!slot.trainable()) continue;
        for (std::size_t i = 0; i < exact.size(); ++i) {
            const double d = double(update.data()[i]) - double(exact.data()[i]);
            difference += d * d;
            norm += double(exact.data()[i]) * double(exact.data()[i]);
        }
    }
    const double error = std::sqrt(difference / norm), reference = pytorch.at("update");
    INFO(arch.name << " SGD step: bagnet " << error << " from float64, PyTorch fp32 " << reference);
    CHECK(error < within * reference);
    std::sort(ratios.begin(), ratios.end());
    INFO("median over tensors of bagnet's distance / PyTorch's: " << ratios[ratios.size() / 2]);
    CHECK(ratios[ratios.size() / 2] < within);
}

}  // namespace

TEST_CASE("input gradients are as close to float64 as PyTorch's float32: ResNet-50 and BagNet-17",
          "[train][pytorch][fidelity]") {
    check_input_gradient(architecture_by_name("resnet50", 10), fixture("fidelity_resnet50"));
    check_input_gradient(make_architecture<imagenet>(17, 10), fixture("fidelity_bagnet17"));
}

TEST_CASE("one SGD step is as close to float64 as PyTorch's float32: ResNet-50 and BagNet-17",
          "[train][pytorch][fidelity]") {
    check_sgd_step(architecture_by_name("resnet50", 10), fixture("fidelity_resnet50"));
    check_sgd_step(make_architecture<imagenet>(17, 10), fixture("fidelity_bagnet17"));
}
