// Training against PyTorch (tests/reference/make_train_fixture.py, float64): the
// eval-mode input gradient, and SGD steps with momentum, weight decay and
// training-mode batch norm, compared tensor by tensor.
//
// Tolerances are calibrated per tensor: the fixture records how far PyTorch's own
// float32 run lands from its float64 run. A deep batch-norm net at initialisation
// is ill-conditioned (the batch-norm backward pass cancels most of its incoming
// gradient), so some tensors' updates are only known to 10% or so in float32.
// Errors are norm-wise (||a - b|| / ||b||): rounding flips the ReLU mask of a few
// activations that sit at zero, which moves a few gradient entries by a lot and
// would dominate a max-norm comparison whichever float32 implementation runs.
// Each tensor must stay within 10x PyTorch's error (plus a floor); and typically
// (the median over tensors) within 2x, which a wrong gradient anywhere would not be.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "bagnet/bagnet.hpp"
#include "bagnet/io/npy.hpp"
#include "bagnet/train.hpp"
#include "fixtures.hpp"
#include "train_test_support.hpp"

using namespace bagnet;
using bagnet::testing::fixture;
using bagnet::testing::max_relative_error;
using bagnet::testing::norm_relative_error;

namespace {

// The numbers of a flat JSON object {"key": number, ...}, as tolerance.json holds.
std::map<std::string, double> read_tolerances(const std::string& path) {
    std::ifstream in(path);
    REQUIRE(in);
    std::stringstream text;
    text << in.rdbuf();
    std::map<std::string, double> values;
    const std::string s = text.str();
    for (std::size_t at = s.find('"'); at != std::string::npos; at = s.find('"', at)) {
        const std::size_t end = s.find('"', at + 1);
        const std::size_t colon = s.find(':', end);
        values[s.substr(at + 1, end - at - 1)] = std::stod(s.substr(colon + 1));
        at = s.find_first_of(",}", colon);
    }
    return values;
}

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

void compare_sgd(int q, const std::string& name, double lr, double weight_decay, int steps) {
    const std::string dir = fixture(name);
    Model<cpu> model = load_model(q, dir);
    const Parameters before = model.parameters();
    train::Batch batch{Tensor4(io::load_npy_float(dir + "/input.npy")), io::load_npy_int64(dir + "/labels.npy"), {}};
    train::Sgd sgd(train::SgdOptions().momentum(0.9).weight_decay(weight_decay));
    for (int i = 0; i < steps; ++i) train::train_step(model, sgd, batch, lr);
    const Parameters after = Parameters::load(model.architecture(), dir + "/after.safetensors");
    const auto tolerances = read_tolerances(dir + "/tolerance.json");
    std::size_t compared = 0;
    std::vector<double> ratios;
    for (const auto& slot : parameter_slots(model.architecture())) {
        const Tensor& expected_after = after.at(slot.key);
        if (slot.is_counter) {
            CHECK(model.parameters().at(slot.key)() == expected_after());
            continue;
        }
        const Tensor update = model.parameters().at(slot.key) - before.at(slot.key);
        const Tensor expected = expected_after - before.at(slot.key);
        const double calibrated = tolerances.at(slot.key);
        const double error = norm_relative_error(update, expected);
        INFO(slot.key << ": relative error of the update " << error << ", PyTorch fp32 " << calibrated);
        CHECK(error < 10 * calibrated + 2e-3);
        ratios.push_back(error / (calibrated + 1e-4));
        ++compared;
    }
    CHECK(compared == tolerances.size());
    std::sort(ratios.begin(), ratios.end());
    INFO("median error relative to PyTorch's own fp32 error: " << ratios[ratios.size() / 2]);
    CHECK(ratios[ratios.size() / 2] < 2);
}

}  // namespace

TEST_CASE("input gradients equal PyTorch's in float64", "[train][pytorch]") {
    compare_input_gradient(9, "train_gradient_q9");
    compare_input_gradient(33, "train_gradient_q33");
}

TEST_CASE("one SGD step equals PyTorch's: every parameter's update and running statistic", "[train][pytorch]") {
    compare_sgd(17, "train_sgd_q17", 0.01, 1e-4, 1);
    compare_sgd(33, "train_sgd_q33", 0.01, 1e-4, 1);
}

TEST_CASE("two tiny SGD steps equal PyTorch's: momentum and weight decay", "[train][pytorch]") {
    compare_sgd(17, "train_sgd_q17_two_tiny", 1e-6, 0.05, 2);
}
