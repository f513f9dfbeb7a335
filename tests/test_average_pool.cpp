// Average pooling, the layer kind added by the recipe in docs/architecture.md: its
// gradients against finite differences, and a network with padded and unpadded
// average pools against PyTorch's AvgPool2d (tests/reference/make_pooling_fixture.py,
// float64) on every CPU backend: eval-mode logits and input gradient, training-mode
// parameter gradients. Every backend against the reference, layer by layer, is in
// single_layer_graphs (tests/train_test_support.hpp).
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "bagnet/bagnet.hpp"
#include "bagnet/io/npy.hpp"
#include "bagnet/io/safetensors.hpp"
#include "bagnet/train.hpp"
#include "fixtures.hpp"
#include "pytorch_updates.hpp"
#include "train_test_support.hpp"

using namespace bagnet;
using bagnet::testing::fixture;
using bagnet::testing::max_relative_error;

namespace {

// The network of make_pooling_fixture.py, layer for layer.
Architecture pooling_network() {
    Architecture arch{"pooling", 0, 3, {}};
    Graph& g = arch.graph;
    int x = g.convolution(Graph::input, ConvSpec{"c", 3, 6, 3, 1, 1, false});
    x = g.average_pool(g.relu(g.batch_norm(x, BatchNormSpec{"bn", 6})), AveragePoolSpec{3, 2, 1});
    x = g.average_pool(g.relu(g.convolution(x, ConvSpec{"d", 6, 8, 1, 1, 0, true})), AveragePoolSpec{2, 2, 0});
    g.linear(g.spatial_mean(x), LinearSpec{"fc", 8, 5});
    return arch;
}

// Within 10x PyTorch's own float32 distance from float64, plus a floor for summation order.
void check_close(const std::string& what, double error, double pytorch) {
    INFO(what << ": relative error " << error << ", PyTorch fp32 against fp64 " << pytorch);
    CHECK(error < 10 * pytorch + 1e-5);
}

template <class Backend>
void compare_with_pytorch() {
    const std::string dir = fixture("average_pool");
    const Architecture arch = pooling_network();
    const Model<Backend> model(arch, dir + "/weights.safetensors");
    const Tensor4 x(io::load_npy_float(dir + "/input.npy"));
    const std::vector<std::int64_t> labels = io::load_npy_int64(dir + "/labels.npy");
    const auto pytorch = testing::read_tolerances(dir + "/tolerance.json");

    check_close("logits", max_relative_error(logits(model, x), io::load_npy_float(dir + "/logits.npy")),
                pytorch.at("logits"));
    const std::vector<int> classes(labels.begin(), labels.end());
    check_close("input gradient",
                max_relative_error(input_gradient(model, x, classes), io::load_npy_float(dir + "/input_gradient.npy")),
                pytorch.at("input_gradient"));

    auto& ops = train::training_ops<Backend>();
    const auto tape = train::forward(ops, arch.graph, model.parameters(), x, train::Mode::training);
    const train::LossResult loss = train::softmax_cross_entropy(tape.output(), labels);
    const auto gradients = train::backward(ops, arch.graph, model.parameters(), tape, loss.gradient, {false, true, {}});
    const io::SafetensorsFile expected(dir + "/gradients.safetensors");
    for (const std::string& key : trainable_keys(arch.graph))
        check_close(key, max_relative_error(gradients.parameters.at(key), expected.load_float(key)), pytorch.at(key));
}

}  // namespace

TEST_CASE("average-pool gradients match finite differences, padded and not", "[gradients][reference]") {
    const Tensor4 x = testing::random_input(2, 3, 7, 6, 21);
    for (const AveragePoolSpec pool : {AveragePoolSpec{3, 2, 1}, AveragePoolSpec{2, 2, 0}, AveragePoolSpec{3, 1, 1}}) {
        Graph g;
        const int pooled = g.average_pool(Graph::input, pool);
        g.linear(g.spatial_mean(g.convolution(pooled, ConvSpec{"c", 3, 4, 1, 1, 0, true})), LinearSpec{"fc", 4, 3});
        INFO("window " << pool.kernel << " stride " << pool.stride << " padding " << pool.padding);
        testing::check_gradients<reference>(g, testing::random_parameters(g, 23), x, train::Mode::training, 1e-2, 1e-2,
                                            x.size());
    }
}

TEST_CASE("average pooling is AvgPool2d: sizes, padding counted in the divisor", "[reference]") {
    Tensor4 ones = xt::ones<float>({std::size_t(1), std::size_t(1), std::size_t(4), std::size_t(5)});
    const Tensor4 y = backend::reference::average_pool(ones, AveragePoolSpec{3, 2, 1});
    REQUIRE(y.shape()[2] == 2);
    REQUIRE(y.shape()[3] == 3);
    CHECK(y(0, 0, 0, 0) == Approx(4.0 / 9));  // the corner window holds 4 inputs and 5 padding zeros
    CHECK(y(0, 0, 1, 1) == Approx(1.0));      // rows 1-3 and columns 1-3, all inside
    CHECK(y(0, 0, 1, 2) == Approx(6.0 / 9));  // rows 1-3 and columns 3-5: column 5 is padding
    CHECK_THROWS_WITH(Graph().average_pool(Graph::input, AveragePoolSpec{2, 2, 2}), Catch::Contains("average pool"));
    CHECK(receptive_field(pooling_network().graph) == 3 + 2 + 2 * 1);
}

TEST_CASE("average pooling agrees with PyTorch on the reference backend", "[pytorch][reference]") {
    compare_with_pytorch<reference>();
}

TEST_CASE("average pooling agrees with PyTorch on the cpu backend", "[pytorch][cpu]") { compare_with_pytorch<cpu>(); }
