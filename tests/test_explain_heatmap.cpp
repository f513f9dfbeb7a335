// Heatmaps: the dense map against the per-patch definition computed by the PyTorch
// reference (tests/reference/make_heatmap_fixture.py), and against the coarse map.
#include <catch2/catch.hpp>

#include <array>
#include <random>
#include <string>

#include <xtensor/xview.hpp>

#include "random_tensors.hpp"
#include "bagnet/bagnet.hpp"
#include "bagnet/explain/heatmap.hpp"
#include "bagnet/explain/heatmap_figures.hpp"
#include "bagnet/data/tensor_dataset.hpp"
#include "bagnet/io/npy.hpp"
#include "error_matchers.hpp"
#include "fixtures.hpp"
#include "thread_communicator.hpp"

namespace {

using bagnet::testing::random_input;
using bagnet::testing::random_images;
using bagnet::testing::max_relative_error;

// Written by tests/reference/make_heatmap_fixture.py.
std::string heatmap_fixture(int q) { return bagnet::testing::fixture("heatmap_q" + std::to_string(q) + "/"); }

// The ImageNet layout at a quarter of its widths (the receptive fields, output stride and dense
// geometry of BagNet-q for a sixteenth of the work): the per-patch definition is one network pass
// per pixel. `imagenet_slim` in tests/reference/bagnet_reference.py.
struct imagenet_slim : bagnet::imagenet {
    static constexpr int stem_width = 16;
    static constexpr std::array<int, 4> widths{16, 32, 64, 128};
};

template <class Config>
void check_against_per_patch_reference(int q) {
    const std::string dir = heatmap_fixture(q);
    const bagnet::Tensor expected = bagnet::io::load_npy_float(dir + "dense_heatmap.npy");
    const int classes = int(expected.shape()[1]);
    bagnet::Model<bagnet::cpu> model(bagnet::make_architecture<Config>(q, classes));
    model.load(dir + "weights.safetensors");
    const bagnet::Tensor4 x(bagnet::io::load_npy_float(dir + "input.npy"));
    std::vector<int> all(static_cast<std::size_t>(classes));
    std::iota(all.begin(), all.end(), 0);
    std::size_t last_done = 0, reported_total = 0;
    const auto maps = bagnet::dense_heatmap(model, x, all, [&](std::size_t done, std::size_t total) {
        CHECK(done > last_done);
        last_done = done;
        reported_total = total;
    });
    INFO("q = " << q << ", input " << bagnet::shape_string(x.shape()));
    CHECK(max_relative_error(maps.evidence, bagnet::Tensor4(expected)) < 1e-3);
    CHECK(last_done == reported_total);
    CHECK(reported_total == x.shape()[0]);  // one pass of the dense graph per image
}

// Coarse entry (i, j) is the dense map at (s i + (q-1)/2, s j + (q-1)/2).
template <class Backend>
void check_coarse_is_dense_on_the_grid(const bagnet::Model<Backend>& model, const bagnet::Tensor4& x,
                                       const bagnet::ClassChoice& choice) {
    const int q = model.architecture().patch_size, s = bagnet::output_stride(model.architecture());
    const auto coarse = bagnet::coarse_heatmap(model, x, choice);
    const auto dense = bagnet::dense_heatmap(model, x, choice);
    REQUIRE(coarse.classes == dense.classes);
    const auto& c = coarse.evidence;
    const auto& d = dense.evidence;
    REQUIRE(c.shape()[1] == d.shape()[1]);
    double worst = 0, scale = 0;
    for (std::size_t n = 0; n < c.shape()[0]; ++n)
        for (std::size_t k = 0; k < c.shape()[1]; ++k)
            for (std::size_t i = 0; i < c.shape()[2]; ++i)
                for (std::size_t j = 0; j < c.shape()[3]; ++j) {
                    const float on_grid = d(n, k, s * i + (q - 1) / 2, s * j + (q - 1) / 2);
                    worst = std::max(worst, double(std::abs(on_grid - c(n, k, i, j))));
                    scale = std::max(scale, double(std::abs(c(n, k, i, j))));
                }
    CHECK(worst <= 1e-4 * scale);
}

}  // namespace

TEST_CASE("dense heatmap equals the per-patch definition (PyTorch) for q = 9, 17, 33", "[explain][heatmap]") {
    check_against_per_patch_reference<bagnet::imagenet>(9);
    check_against_per_patch_reference<imagenet_slim>(17);
    check_against_per_patch_reference<imagenet_slim>(33);
}

TEST_CASE("coarse heatmap equals the dense heatmap on the stride grid", "[explain][heatmap]") {
    SECTION("ImageNet BagNet-9 on the cpu backend, output stride 8") {
        bagnet::BagNet<9> model(20, 5);
        REQUIRE(bagnet::output_stride(model.architecture()) == 8);
        check_coarse_is_dense_on_the_grid(model, random_input(2, 3, 27, 22, 1), {3, 17});
    }
    SECTION("small BagNet-9 on the reference backend, output stride 4") {
        bagnet::BagNet<9, bagnet::small<6, 1>, bagnet::reference> model(6, 2);
        REQUIRE(bagnet::output_stride(model.architecture()) == 4);
        check_coarse_is_dense_on_the_grid(model, random_input(1, 1, 15, 13, 2), bagnet::ClassChoice::top(2));
    }
}

TEST_CASE("the a-trous graph sees one q x q patch per input pixel", "[explain][heatmap][a_trous]") {
    for (int q : {9, 17, 33}) {
        const bagnet::Architecture arch = bagnet::make_architecture<bagnet::imagenet>(q, 10);
        const bagnet::Graph dense = bagnet::a_trous(arch.graph);
        CHECK(bagnet::receptive_field(dense) == q);
        CHECK(bagnet::output_stride(dense) == 1);
        CHECK(bagnet::feature_extent(dense, 40 + q - 1) == 40);
        CHECK(bagnet::tensors_of(dense).size() == bagnet::tensors_of(arch.graph).size());
    }
    using bagnet::testing::one_line_mentioning;
    CHECK_THROWS_WITH(bagnet::a_trous(bagnet::resnet50_architecture().graph), one_line_mentioning({"padding"}));
}

TEST_CASE("the dense evaluation equals the shifted passes: bands of rows, several images a pass, odd sizes",
          "[explain][heatmap][a_trous]") {
    using bagnet::detail::a_trous_evidence;
    using bagnet::detail::shifted_evidence;
    SECTION("ImageNet BagNet-9 on the cpu backend, chosen classes") {
        bagnet::BagNet<9> model(20, 5);
        bagnet::testing::randomize(model, 6);
        const auto x = random_input(3, 3, 37, 29, 7);
        const std::vector<std::vector<int>> classes{{3, 17}, {3, 17}, {3, 17}};
        const bagnet::Tensor4 expected = shifted_evidence(model, x, classes, {});
        const std::size_t row = bagnet::dense_row_bytes(model.architecture(), 29 + 8);
        for (std::size_t rows : {std::size_t(1000), std::size_t(80), std::size_t(12), std::size_t(1)}) {
            INFO("a pass holds " << rows << " rows of the widest value");
            std::size_t passes = 0;
            const auto actual = a_trous_evidence(model, x, classes, [&](std::size_t, std::size_t total) {
                passes++;
                CHECK(total == (rows >= 37 ? 3 : rows == 12 ? 12 : 3 * 37));
            }, rows * row);
            CHECK(max_relative_error(actual, expected) < 1e-4);
            CHECK(passes == (rows == 1000 ? 1 : rows == 80 ? 2 : rows == 12 ? 12 : 3 * 37));
        }
    }
    SECTION("small BagNet-9 on the reference backend, each image its own classes") {
        bagnet::BagNet<9, bagnet::small<6, 1>, bagnet::reference> model(6, 2);
        bagnet::testing::randomize(model, 3);
        const auto x = random_input(2, 1, 15, 13, 2);
        const std::vector<std::vector<int>> classes{{1, 4}, {5, 0}};
        CHECK(max_relative_error(a_trous_evidence(model, x, classes, {}), shifted_evidence(model, x, classes, {})) <
              1e-5);
    }
}

TEST_CASE("class choices: one class, a list, each image's top k", "[explain][heatmap]") {
    bagnet::BagNet<9, bagnet::small<7, 1>> model(7, 3);
    const auto x = random_input(3, 1, 12, 12, 4);
    const auto scores = bagnet::logits(model, x);

    const auto top = bagnet::coarse_heatmap(model, x, bagnet::ClassChoice::top(3));
    REQUIRE(top.classes.size() == 3);
    for (std::size_t n = 0; n < 3; ++n) {
        REQUIRE(top.classes[n].size() == 3);
        // best first, and no other class scores higher than the third
        CHECK(scores(n, top.classes[n][0]) >= scores(n, top.classes[n][1]));
        CHECK(scores(n, top.classes[n][1]) >= scores(n, top.classes[n][2]));
        for (int c = 0; c < 7; ++c)
            if (std::count(top.classes[n].begin(), top.classes[n].end(), c) == 0)
                CHECK(scores(n, c) <= scores(n, top.classes[n][2]));
        // the logits are the mean of the coarse map
        for (std::size_t k = 0; k < 3; ++k) {
            const auto map = xt::view(top.evidence, n, k);
            CHECK(double(xt::mean(map)()) == Approx(scores(n, top.classes[n][k])).margin(1e-5));
        }
    }
    const auto one = bagnet::coarse_heatmap(model, x, 5);
    CHECK(one.evidence.shape()[1] == 1);
    CHECK(one.classes == std::vector<std::vector<int>>(3, {5}));
}

TEST_CASE("heatmap inputs a model cannot explain are one-line errors", "[explain][heatmap][errors]") {
    using bagnet::testing::one_line_mentioning;
    bagnet::BagNet<9, bagnet::small<7, 1>> model(7, 3);
    const auto x = random_input(1, 1, 12, 12, 4);
    REQUIRE_THROWS_WITH(bagnet::dense_heatmap(model, x, 7), one_line_mentioning({"class 7", "out of range", "7 classes"}));
    REQUIRE_THROWS_WITH(bagnet::coarse_heatmap(model, x, {1, -1}), one_line_mentioning({"class -1", "out of range"}));
    REQUIRE_THROWS_WITH(bagnet::dense_heatmap(model, x, bagnet::ClassChoice::top(8)),
                        one_line_mentioning({"top 8", "only 7"}));
    REQUIRE_THROWS_WITH(bagnet::dense_heatmap(model, random_input(1, 1, 8, 20, 5), 1),
                        one_line_mentioning({"at least 9 x 9", "got 8 x 20"}));
    REQUIRE_THROWS_AS(bagnet::coarse_heatmap(model, x, std::vector<int>{}), bagnet::Error);
}

TEST_CASE("a data set's heatmap figures are one process's for any number of processes", "[explain][heatmap][distributed]") {
    using SmallNet = bagnet::BagNet<9, bagnet::small<4, 1>>;
    const bagnet::Tensor4 x = random_images(7, 20, 18, 31);
    const std::vector<std::int64_t> labels{0, 1, -1, 3, 2, 1, 0};  // one image without a label
    const bagnet::data::TensorDataset set(x, labels);
    const auto label = [](int c) { return "class " + std::to_string(c); };
    const bagnet::ClassChoice choice = bagnet::ClassChoice::top(2);
    const auto same = [](const bagnet::Picture& a, const bagnet::Picture& b) {
        if (a.width() != b.width() || a.height() != b.height()) return false;
        for (int y = 0; y < a.height(); ++y)
            for (int i = 0; i < a.width(); ++i)
                if (a.at(i, y).r != b.at(i, y).r || a.at(i, y).g != b.at(i, y).g || a.at(i, y).b != b.at(i, y).b)
                    return false;
        return true;
    };
    for (const auto kind : {bagnet::HeatmapKind::coarse, bagnet::HeatmapKind::dense}) {
        SmallNet model(4, 5);
        bagnet::distributed::SingleProcess one;
        const auto alone = bagnet::heatmap_figures(model, set, choice, kind, label, {}, 99.0, {3, 1, false}, one);
        REQUIRE(alone.size() == 7);
        // Image 3 as heatmap_figure draws it from its own maps, with its name and true class.
        const bagnet::Tensor4 image = xt::view(x, xt::range(3, 4));
        const bagnet::Heatmaps maps = kind == bagnet::HeatmapKind::dense ? bagnet::dense_heatmap(model, image, choice)
                                                                        : bagnet::coarse_heatmap(model, image, choice);
        CHECK(same(alone[3], bagnet::heatmap_figure(model.architecture(), image, 0, maps, bagnet::logits(model, image),
                                                    label, {}, set.name(3) + " (true: class 3)", 99.0)));
        for (int processes : {2, 3}) {
            std::vector<std::vector<bagnet::Picture>> found(static_cast<std::size_t>(processes));
            bagnet::testing::run_ranks(processes, [&](bagnet::distributed::Communicator& communicator) {
                SmallNet own(4, 5);  // a model's plan cache serves one thread
                found[std::size_t(communicator.rank())] =
                    bagnet::heatmap_figures(own, set, choice, kind, label, {}, 99.0, {3, 1, false}, communicator);
            });
            REQUIRE(found[0].size() == 7);
            for (std::size_t i = 0; i < 7; ++i) CHECK(same(found[0][i], alone[i]));
            for (int r = 1; r < processes; ++r) CHECK(found[std::size_t(r)].empty());
        }
    }
}
