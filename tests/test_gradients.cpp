// Finite-difference checks of every layer's backward pass on the reference
// backend, alone and composed, in training and evaluation mode.
#include <catch2/catch.hpp>

#include "bagnet/train/loss.hpp"
#include "train_test_support.hpp"

using namespace bagnet;
using bagnet::testing::check_gradients;
using bagnet::testing::random_parameters;
using bagnet::testing::random_input;
using train::Mode;

namespace {

ConvSpec conv(const char* name, int in, int out, int kernel, int stride, int padding, bool bias) {
    return ConvSpec{name, in, out, kernel, stride, padding, bias};
}

Graph single_convolution(ConvSpec spec) {
    Graph g;
    g.convolution(Graph::input, std::move(spec));
    return g;
}

}  // namespace

TEST_CASE("convolution gradients match finite differences", "[gradients][reference]") {
    const auto x = random_input(2, 3, 7, 6, 1);
    for (int kernel : {1, 3})
    for (int stride : {1, 2})
        for (int padding : {0, 1})
            for (bool bias : {false, true}) {
                const Graph g = single_convolution(conv("c", 3, 4, kernel, stride, padding, bias));
                INFO(kernel << "x" << kernel << " stride " << stride << " padding " << padding << " bias " << bias);
                check_gradients<reference>(g, random_parameters(g, 3), x, Mode::training);
            }
}

TEST_CASE("batch norm gradients match finite differences in both modes", "[gradients][reference]") {
    Graph g;
    g.batch_norm(Graph::input, BatchNormSpec{"bn", 3, 1e-5, 0.1});
    const auto x = random_input(3, 3, 4, 5, 4);
    check_gradients<reference>(g, random_parameters(g, 5), x, Mode::training);
    check_gradients<reference>(g, random_parameters(g, 5), x, Mode::evaluation);
}

TEST_CASE("relu, crop-and-add, spatial mean and linear gradients match finite differences", "[gradients][reference]") {
    Graph g;
    const int r = g.relu(Graph::input);
    const int narrow = g.convolution(r, conv("c", 3, 3, 3, 1, 0, true));  // 6x5 -> 4x3
    const int sum = g.add_cropped(narrow, Graph::input);                  // input cropped to 4x3
    g.linear(g.spatial_mean(sum), LinearSpec{"fc", 3, 5});
    auto x = random_input(2, 3, 6, 5, 6);
    for (auto& v : x) v = v > 0 ? v + 0.1f : v - 0.1f;  // no finite-difference step crosses ReLU's kink
    check_gradients<reference>(g, random_parameters(g, 7), x, Mode::training, 1e-2);
}

TEST_CASE("max-pool gradients match finite differences, padded and not", "[gradients][reference]") {
    // Distinct values 0.05 apart: no finite-difference step changes which value is a window's maximum.
    Tensor4 x = random_input(2, 3, 7, 6, 12);
    std::vector<std::size_t> order(x.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = (i * 37) % order.size();
    for (std::size_t i = 0; i < order.size(); ++i) x.data()[i] = 0.05f * float(order[i]) - 3.f;
    for (const MaxPoolSpec pool : {MaxPoolSpec{3, 2, 1}, MaxPoolSpec{2, 2, 0}, MaxPoolSpec{3, 1, 1}}) {
        Graph g;
        const int pooled = g.max_pool(Graph::input, pool);
        g.linear(g.spatial_mean(g.convolution(pooled, conv("c", 3, 4, 1, 1, 0, true))), LinearSpec{"fc", 4, 3});
        INFO("window " << pool.kernel << " stride " << pool.stride << " padding " << pool.padding);
        check_gradients<reference>(g, random_parameters(g, 13), x, Mode::training, 1e-2, 1e-2, x.size());
    }
}

TEST_CASE("a small BagNet-style network has correct gradients end to end", "[gradients][reference]") {
    // Stem, a projection block with a strided 3x3 (shortcut cropped), an identity block, head.
    Graph g;
    int x = g.convolution(Graph::input, conv("conv1", 2, 4, 1, 1, 0, false));
    x = g.convolution(x, conv("conv2", 4, 4, 3, 1, 0, false));
    x = g.relu(g.batch_norm(x, {"bn1", 4, 1e-5, 0.001}));
    int main = g.relu(g.batch_norm(g.convolution(x, conv("b.conv1", 4, 3, 1, 1, 0, false)), {"b.bn1", 3}));
    main = g.relu(g.batch_norm(g.convolution(main, conv("b.conv2", 3, 3, 3, 2, 0, false)), {"b.bn2", 3}));
    main = g.batch_norm(g.convolution(main, conv("b.conv3", 3, 6, 1, 1, 0, false)), {"b.bn3", 6});
    const int shortcut = g.batch_norm(g.convolution(x, conv("b.down", 4, 6, 1, 2, 0, false)), {"b.down.bn", 6});
    x = g.relu(g.add_cropped(main, shortcut));
    int second = g.relu(g.batch_norm(g.convolution(x, conv("p.conv", 6, 6, 3, 1, 1, false)), {"p.bn", 6}));
    x = g.relu(g.add_cropped(second, x));
    g.linear(g.spatial_mean(x), LinearSpec{"fc", 6, 4});
    const auto input = random_input(3, 2, 11, 10, 8);
    check_gradients<reference>(g, random_parameters(g, 9), input, Mode::training, 1e-3, 2e-2, 3);
    check_gradients<reference>(g, random_parameters(g, 9), input, Mode::evaluation, 1e-3, 2e-2, 3);
}

TEST_CASE("softmax cross-entropy gradient matches finite differences", "[gradients][loss]") {
    auto logits = random_input(3, 5, 1, 1, 10);
    const std::vector<std::int64_t> labels{0, 4, 2};
    for (double smoothing : {0.0, 0.1}) {
        const auto result = train::softmax_cross_entropy(logits, labels, smoothing);
        for (std::size_t i = 0; i < logits.size(); ++i) {
            auto moved = logits;
            moved.data()[i] += 1e-2f;
            const double up = train::softmax_cross_entropy(moved, labels, smoothing).loss;
            moved.data()[i] -= 2e-2f;
            const double down = train::softmax_cross_entropy(moved, labels, smoothing).loss;
            CHECK(result.gradient.data()[i] == Approx((up - down) / 2e-2).margin(1e-4));
        }
    }
    // log(K) for uniform logits, whatever the smoothing.
    const Tensor4 zeros = xt::zeros<float>({std::size_t(2), std::size_t(4), std::size_t(1), std::size_t(1)});
    CHECK(train::softmax_cross_entropy(zeros, {1, 3}, 0.2).loss == Approx(std::log(4.0)));
    CHECK_THROWS_WITH(train::softmax_cross_entropy(zeros, {1, 4}), Catch::Contains("label 4 is out of range for 4 classes"));
}

TEST_CASE("running statistics follow PyTorch's update with the unbiased variance", "[gradients][batchnorm]") {
    Graph g;
    g.batch_norm(Graph::input, BatchNormSpec{"bn", 2, 1e-5, 0.25});
    auto params = random_parameters(g, 1);
    const Tensor old_mean = params.at("bn.running_mean"), old_var = params.at("bn.running_var");
    const auto x = random_input(2, 2, 3, 1, 2);  // 6 values per channel
    const auto tape = train::forward(train::training_ops<reference>(), g, params, x, Mode::training);
    train::update_running_statistics(g, tape, params);
    for (std::size_t c = 0; c < 2; ++c) {
        double mean = 0, squares = 0;
        for (std::size_t i = 0; i < 2; ++i)
            for (std::size_t y = 0; y < 3; ++y) mean += x(i, c, y, 0) / 6.0;
        for (std::size_t i = 0; i < 2; ++i)
            for (std::size_t y = 0; y < 3; ++y) squares += (x(i, c, y, 0) - mean) * (x(i, c, y, 0) - mean);
        CHECK(params.at("bn.running_mean")(c) == Approx(0.75 * old_mean(c) + 0.25 * mean).epsilon(1e-5));
        CHECK(params.at("bn.running_var")(c) == Approx(0.75 * old_var(c) + 0.25 * squares / 5).epsilon(1e-5));
    }
    CHECK(params.at("bn.num_batches_tracked")() == 1.f);
}
