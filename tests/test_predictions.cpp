// What a library user needs around a prediction: the classes' names, the most
// probable classes of an image, and the mistakes of a model over a data set.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "bagnet/bagnet.hpp"
#include "bagnet/data.hpp"
#include "bagnet/explain.hpp"
#include "error_matchers.hpp"
#include "random_tensors.hpp"
#include "thread_communicator.hpp"

using namespace bagnet;
using bagnet::testing::random_input;

namespace {

Model<cpu> small_model(std::uint64_t seed) {
    Model<cpu> model(architecture_by_name("fashion9"), seed);
    bagnet::testing::randomize(model, seed);
    return model;
}

}  // namespace

TEST_CASE("class names come from the data set, ImageNet, or the index", "[predictions][names]") {
    const data::ClassNames fashion(10, fashion_mnist_class_names());
    CHECK(fashion.name(0) == "T-shirt/top");
    CHECK(fashion.label(9) == "ankle boot");
    const data::ClassNames imagenet(1000);
    CHECK(imagenet.name(281) == "tabby");
    CHECK(imagenet.label(281) == "281 tabby");
    // A data set that names other classes than the model's is not used for them.
    const data::ClassNames other(5, {"a", "b"});
    CHECK(other.name(1) == "class 1");
    CHECK(other.label(4) == "class 4");
    CHECK_THROWS_WITH(fashion.name(10), bagnet::testing::one_line_mentioning({"class 10", "out of range", "10 classes"}));
    CHECK_THROWS_AS(fashion.name(-1), Error);
}

TEST_CASE("top predictions are the softmax of the logits, most probable first", "[predictions]") {
    const Model<cpu> model = small_model(3);
    const Tensor4 x = random_input(4, 1, 28, 28, 5);
    const Tensor2 scores = logits(model, x);
    const auto predictions = top_predictions(model, x, 3);
    REQUIRE(predictions.size() == 4);
    for (std::size_t n = 0; n < 4; ++n) {
        // The reference: every class's probability from the logits in double, sorted here.
        double total = 0;
        for (std::size_t c = 0; c < 10; ++c) total += std::exp(double(scores(n, c)));
        std::vector<int> order(10);
        for (int c = 0; c < 10; ++c) order[std::size_t(c)] = c;
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores(n, std::size_t(a)) > scores(n, std::size_t(b)); });
        REQUIRE(predictions[n].size() == 3);
        for (std::size_t r = 0; r < 3; ++r) {
            CHECK(predictions[n][r].index == order[r]);
            CHECK(predictions[n][r].probability ==
                  Approx(std::exp(double(scores(n, std::size_t(order[r])))) / total).epsilon(1e-5));
        }
    }
    CHECK_THROWS_WITH(top_predictions(model, x, 11), bagnet::testing::one_line_mentioning({"top 11", "10 classes"}));
    CHECK_THROWS_AS(top_predictions(model, x, 0), Error);
}

TEST_CASE("the first mistakes over a data set are the same for any number of processes", "[predictions][mistakes]") {
    const Model<cpu> model = small_model(7);
    const Tensor4 images = random_input(37, 1, 28, 28, 11);
    const Tensor2 scores = logits(model, images);
    // Labels that make every third image a mistake, and one image without a label.
    std::vector<std::int64_t> labels(37);
    for (std::size_t i = 0; i < 37; ++i) {
        const int best = top_classes(scores, i, 1)[0];
        labels[i] = i % 3 == 0 ? (best + 1) % 10 : best;
    }
    labels[3] = -1;
    const data::TensorDataset set(images, labels);
    std::vector<std::size_t> expected;
    for (std::size_t i = 0; i < 37; ++i)
        if (labels[i] >= 0 && labels[i] != top_classes(scores, i, 1)[0]) expected.push_back(i);
    REQUIRE(expected.size() == 12);

    CHECK(first_mistakes(model, set, 100) == expected);
    CHECK(first_mistakes(model, set, 5, {4, 1, false}) ==
          std::vector<std::size_t>(expected.begin(), expected.begin() + 5));
    for (int processes : {2, 3}) {
        std::vector<std::vector<std::size_t>> found(std::size_t(processes), std::vector<std::size_t>{});
        bagnet::testing::run_ranks(processes, [&](distributed::Communicator& communicator) {
            const Model<cpu> own = small_model(7);  // a model's plan cache serves one thread
            found[std::size_t(communicator.rank())] = first_mistakes(own, set, 7, {4, 1, false}, communicator);
        });
        for (const auto& on_rank : found) CHECK(on_rank == std::vector<std::size_t>(expected.begin(), expected.begin() + 7));
    }
}
