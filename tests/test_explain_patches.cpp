// Top patches: streaming with bounded memory finds exactly what brute force finds.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "random_tensors.hpp"
#include "bagnet/bagnet.hpp"
#include "bagnet/data/tensor_dataset.hpp"
#include "bagnet/explain/top_patches.hpp"
#include "error_matchers.hpp"

namespace {

using bagnet::testing::random_input;
using bagnet::testing::random_images;
using bagnet::testing::max_relative_error;

using SmallNet = bagnet::BagNet<9, bagnet::small<5, 1>>;

// Every patch of every image scored at once, sorted: the obvious way.
std::vector<bagnet::Patch> brute_force(const SmallNet& model, const bagnet::Tensor4& x,
                                       const std::vector<std::int64_t>& labels, int cls, bool of_class, std::size_t k) {
    const auto map = bagnet::logit_map(model, x);
    std::vector<bagnet::Patch> all;
    for (std::size_t n = 0; n < map.shape()[0]; ++n) {
        if ((labels[n] == cls) != of_class) continue;
        for (std::size_t i = 0; i < map.shape()[1]; ++i)
            for (std::size_t j = 0; j < map.shape()[2]; ++j) {
                bagnet::Patch p;
                p.score = map(n, i, j, std::size_t(cls));
                p.image = n;
                p.y = int(4 * i);
                p.x = int(4 * j);
                all.push_back(p);
            }
    }
    std::sort(all.begin(), all.end(), bagnet::ranks_before);
    all.resize(std::min(k, all.size()));
    return all;
}

void check_same(const std::vector<bagnet::Patch>& streamed, const std::vector<bagnet::Patch>& expected,
                const bagnet::Tensor4& x) {
    REQUIRE(streamed.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        CHECK(streamed[i].image == expected[i].image);
        CHECK(streamed[i].y == expected[i].y);
        CHECK(streamed[i].x == expected[i].x);
        CHECK(streamed[i].score == Approx(expected[i].score).margin(1e-5));
        // the stored pixels are the patch's own
        const auto& p = streamed[i];
        REQUIRE(p.pixels.shape() == std::vector<std::size_t>{1, 9, 9});
        CHECK(p.pixels(0, 0, 0) == x(p.image, 0, std::size_t(p.y), std::size_t(p.x)));
        CHECK(p.pixels(0, 8, 8) == x(p.image, 0, std::size_t(p.y + 8), std::size_t(p.x + 8)));
    }
}

// The images in order, `batch` at a time, named "<prefix> <index>".
struct InOrder {
    InOrder(const bagnet::Tensor4& x, const std::vector<std::int64_t>& labels, std::size_t batch,
            const std::string& prefix = "image")
        : set(x, labels, {}, prefix), stream(set, bagnet::data::StreamOptions::in_order(batch, 2)) {}
    bagnet::data::TensorDataset set;
    bagnet::data::BatchStream stream;
};

}  // namespace

TEST_CASE("top patches by streaming equal top patches by brute force", "[explain][patches]") {
    SmallNet model(5, 11);
    const auto x = random_images(9, 17, 13, 3);
    const std::vector<std::int64_t> labels{0, 2, 2, 1, 2, 4, 2, 0, 3};
    for (std::size_t batch : {std::size_t(1), std::size_t(4), std::size_t(9)})
        for (std::size_t k : {std::size_t(1), std::size_t(5), std::size_t(200)}) {
            INFO("batch " << batch << ", k " << k);
            InOrder data(x, labels, batch);
            const auto top = bagnet::top_patches(model, data.stream, 2, k);
            CHECK(top.images == 9);
            check_same(top.of_class, brute_force(model, x, labels, 2, true, k), x);
            check_same(top.of_other_classes, brute_force(model, x, labels, 2, false, k), x);
            CHECK(top.of_class.front().label == 2);
            CHECK(top.of_other_classes.front().label != 2);
        }
}

TEST_CASE("the top-patch listing is JSON naming each patch's source", "[explain][patches]") {
    SmallNet model(5, 11);
    const auto x = random_images(3, 12, 12, 4);
    const std::vector<std::int64_t> labels{1, 0, 1};
    InOrder data(x, labels, 2, "shirt");
    const auto top = bagnet::top_patches(model, data.stream, 1, 2);
    const std::string json = bagnet::to_json(top, "trouser \"1\"");
    CHECK_THAT(json, Catch::Contains("\"class\": 1"));
    CHECK_THAT(json, Catch::Contains("\"class_name\": \"trouser \\\"1\\\"\""));
    CHECK_THAT(json, Catch::Contains("\"source\": \"shirt " + std::to_string(top.of_class[0].image) + "\""));
    CHECK_THAT(json, Catch::Contains("\"images_scanned\": 3"));
}

TEST_CASE("top patches of nothing, or of no class, are one-line errors", "[explain][patches][errors]") {
    using bagnet::testing::one_line_mentioning;
    SmallNet model(5, 11);
    const bagnet::Tensor4 none = bagnet::Tensor4::from_shape({0, 1, 12, 12});
    REQUIRE_THROWS_WITH(InOrder(none, {}, 2), one_line_mentioning({"data set is empty"}));
    const auto x = random_images(2, 12, 12, 4);
    const std::vector<std::int64_t> labels{1, 0};
    InOrder data(x, labels, 2);
    REQUIRE_THROWS_WITH(bagnet::top_patches(model, data.stream, 5, 3), one_line_mentioning({"class 5", "out of range"}));
    REQUIRE_THROWS_WITH(InOrder(x, {1}, 2), one_line_mentioning({"2 images", "1 labels"}));
}
