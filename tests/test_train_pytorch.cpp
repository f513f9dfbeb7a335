// Training against PyTorch (tests/reference/make_train_fixture.py, make_ddp_fixture.py,
// float64): the eval-mode input gradient, and SGD steps with momentum, weight decay and
// training-mode batch norm, on one process and as two DDP processes, compared tensor by
// tensor with tolerances calibrated per tensor (tests/pytorch_updates.hpp).
#include <catch2/catch.hpp>

#include <memory>

#include "bagnet/bagnet.hpp"
#include "bagnet/io/npy.hpp"
#include "bagnet/train.hpp"
#include "fixtures.hpp"
#include "pytorch_updates.hpp"
#include "thread_communicator.hpp"
#include "train_test_support.hpp"

using namespace bagnet;
using bagnet::testing::fixture;
using bagnet::testing::max_relative_error;
using bagnet::testing::check_updates_match;
using bagnet::testing::read_tolerances;

namespace {

Model<cpu> load_model(int q, const std::string& dir) {
    Model<cpu> model(make_architecture<imagenet>(q, 10));
    model.load(dir + "/weights.safetensors");
    return model;
}

void compare_input_gradient(int q, const std::string& name) {
    const std::string dir = fixture(name);
    const Model<cpu> model = load_model(q, dir);
    const Tensor4 x(io::load_npy_float(dir + "/input.npy"));
    std::vector<int> classes;
    for (auto c : io::load_npy_int64(dir + "/classes.npy")) classes.push_back(int(c));
    const Tensor expected = io::load_npy_float(dir + "/input_gradient.npy");
    const double calibrated = read_tolerances(dir + "/tolerance.json").at("input_gradient");
    const double error = max_relative_error(input_gradient(model, x, classes), expected);
    INFO("q = " << q << ": relative error " << error << ", PyTorch fp32 against fp64 " << calibrated);
    CHECK(error < 3e-3);
    // The class-index overload sums one class over the batch: for a batch of one it is the same.
    if (classes[0] == classes[1]) CHECK(max_relative_error(input_gradient(model, x, classes[0]), expected) < 3e-3);
}

// `steps` SGD steps on the fixture's batch: one process on the whole batch, or `processes`
// threads standing in for processes, each on its consecutive share with its own batch norm, as
// the DDP fixture (make_ddp_fixture.py) splits it. Returns process 0's parameters.
Parameters sgd_steps(const Architecture& arch, const std::string& dir, double lr, double weight_decay, int steps,
                     int processes) {
    const train::Batch batch{Tensor4(io::load_npy_float(dir + "/input.npy")), io::load_npy_int64(dir + "/labels.npy"), {}};
    std::vector<std::unique_ptr<Model<cpu>>> models;
    for (int r = 0; r < processes; ++r) models.push_back(std::make_unique<Model<cpu>>(arch, dir + "/weights.safetensors"));
    bagnet::testing::run_ranks(processes, [&](distributed::Communicator& communicator) {
        const std::size_t r = std::size_t(communicator.rank());
        const auto [begin, end] = data::share(batch.labels.size(), communicator.rank(), processes);
        const train::Batch share{train::slice_batch(batch.images, begin, end),
                                 {batch.labels.begin() + long(begin), batch.labels.begin() + long(end)}, {}};
        train::Sgd sgd(train::SgdOptions().momentum(0.9).weight_decay(weight_decay));
        train::TrainOptions options;
        options.processes = &communicator;
        for (int i = 0; i < steps; ++i) train::train_step(*models[r], sgd, share, lr, options);
    });
    return models[0]->parameters();
}

void compare_sgd(const Architecture& arch, const std::string& name, double lr, double weight_decay, int steps,
                 int processes = 1) {
    const std::string dir = fixture(name);
    check_updates_match(arch, dir, sgd_steps(arch, dir, lr, weight_decay, steps, processes));
}

}  // namespace

TEST_CASE("input gradients equal PyTorch's in float64", "[train][pytorch]") {
    compare_input_gradient(9, "train_gradient_q9");
    compare_input_gradient(33, "train_gradient_q33");
}

TEST_CASE("one SGD step equals PyTorch's: every parameter's update and running statistic", "[train][pytorch]") {
    compare_sgd(make_architecture<imagenet>(17, 10), "train_sgd_q17", 0.01, 1e-4, 1);
    compare_sgd(make_architecture<imagenet>(33, 10), "train_sgd_q33", 0.01, 1e-4, 1);
}

TEST_CASE("two tiny SGD steps equal PyTorch's: momentum and weight decay", "[train][pytorch]") {
    compare_sgd(make_architecture<imagenet>(17, 10), "train_sgd_q17_two_tiny", 1e-6, 0.05, 2);
}

TEST_CASE("two processes train as PyTorch DDP does: averaged gradients, per-process batch norm, process 0's "
          "running statistics", "[train][pytorch][distributed]") {
    compare_sgd(make_architecture<bagnet::small<10, 1>>(9), "train_ddp_small9", 0.01, 1e-4, 2, 2);
}
