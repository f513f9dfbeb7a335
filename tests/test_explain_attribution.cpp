// Attribution methods and their benchmark: integrated gradients is complete, the
// exact evidence ranks regions as itself, the scoring functions do what they say.
#include <catch2/catch.hpp>

#include <random>

#include "random_tensors.hpp"
#include "bagnet/bagnet.hpp"
#include "bagnet/explain/gradient_attribution.hpp"
#include "bagnet/data/tensor_dataset.hpp"
#include "error_matchers.hpp"
#include "thread_communicator.hpp"

namespace {

using bagnet::testing::random_input;
using bagnet::testing::random_images;
using bagnet::testing::max_relative_error;

using SmallNet = bagnet::BagNet<9, bagnet::small<4, 1>>;

}  // namespace

TEST_CASE("integrated gradients sum to the logit difference from the baseline", "[explain][attribution]") {
    SmallNet model(4, 3);
    const auto x = random_images(1, 17, 15, 5);
    const bagnet::Tensor4 zero = xt::zeros<float>(x.shape());
    const auto scores = bagnet::logits(model, x), baseline = bagnet::logits(model, zero);
    for (int c : {0, 3}) {
        const double difference = scores(0, std::size_t(c)) - baseline(0, std::size_t(c));
        const double coarse = xt::sum(bagnet::integrated_gradients(model, x, c, 8))();
        const double fine = xt::sum(bagnet::integrated_gradients(model, x, c, 64))();
        INFO("class " << c << ": logit difference " << difference << ", IG(8) " << coarse << ", IG(64) " << fine);
        // the midpoint rule's error shrinks with the steps (ReLU kinks make it first order at worst)
        CHECK(std::abs(fine - difference) <= 0.02 * std::abs(difference) + 1e-3);
        CHECK(std::abs(fine - difference) <= std::abs(coarse - difference) + 1e-4);
    }
    REQUIRE_THROWS_WITH(bagnet::integrated_gradients(model, x, 0, 0), bagnet::testing::one_line_mentioning({"1 step"}));
}

TEST_CASE("rank correlation and tiles", "[explain][attribution]") {
    CHECK(bagnet::rank_correlation({1, 2, 3, 4}, {10, 20, 30, 40}) == Approx(1.0));
    CHECK(bagnet::rank_correlation({1, 2, 3, 4}, {4, 3, 2, 1}) == Approx(-1.0));
    CHECK(bagnet::rank_correlation({1, 2, 3, 4}, {1, 3, 2, 4}) == Approx(0.8));  // 1 - 6 * 2 / (4 * 15)
    const auto regions = bagnet::tiles(10, 7, 4);
    REQUIRE(regions.size() == 6);
    int covered = 0;
    for (const auto& r : regions) covered += r.height * r.width;
    CHECK(covered == 70);
    CHECK(regions.back().height == 2);
    CHECK(regions.back().width == 3);
}

TEST_CASE("the attribution benchmark: exact evidence is the reference row", "[explain][attribution]") {
    SmallNet model(4, 4);
    const auto x = random_images(2, 16, 16, 6);
    const std::vector<bagnet::AttributionMethod> methods{bagnet::exact_evidence(model), bagnet::gradient_method(model),
                                                         bagnet::gradient_times_input_method(model),
                                                         bagnet::integrated_gradients_method(model, 8),
                                                         bagnet::occlusion_method(model, 9, 4), bagnet::random_attribution()};
    const auto table = bagnet::benchmark_attributions(model, x, methods, 4, 8);
    REQUIRE(table.size() == 6);
    CHECK(table[0].rank_correlation == Approx(1.0));
    CHECK(table[0].patch_deletion == Approx(1.0));  // the best order by construction
    for (const auto& row : table) {
        INFO(row.method);
        CHECK(std::isfinite(row.pixel_deletion));
        CHECK(row.rank_correlation >= -1.0);
        CHECK(row.rank_correlation <= 1.0 + 1e-9);
        CHECK(row.patch_deletion >= -1e-9);
        CHECK(row.patch_deletion <= 1.0 + 1e-9);
    }
    // masking in the exact evidence's order beats masking in the reverse order
    const bagnet::Tensor4 one = xt::view(x, xt::range(0, 1));
    const int c = bagnet::top_classes(bagnet::logits(model, one), 0, 1)[0];
    const bagnet::Tensor evidence = methods[0].attribute(one, c);
    CHECK(bagnet::pixel_deletion_score(model, one, c, evidence, 4, 8) >
          bagnet::pixel_deletion_score(model, one, c, -evidence, 4, 8));
    const auto markdown = bagnet::to_markdown(table, 2);
    CHECK_THAT(markdown, Catch::Contains("| exact evidence (BagNet) |"));
    CHECK_THAT(markdown, Catch::Contains("integrated gradients (8 steps)"));
    CHECK_THAT(markdown, Catch::Contains("Patch deletion:"));
}

TEST_CASE("patch deletion removes the patches' evidence exactly", "[explain][attribution]") {
    SmallNet model(4, 7);
    const auto x = random_images(1, 21, 17, 8);
    const int c = 2;
    const bagnet::Tensor map = xt::view(bagnet::logit_map(model, x), 0, xt::all(), xt::all(), c);
    // Removing a set of patches' evidence is what a BagNet computes on the remaining patches:
    // the logit with the patches removed equals the mean of the others' evidence (times their share).
    const double logit = bagnet::logits(model, x)(0, c);
    CHECK(xt::mean(map)() == Approx(logit).epsilon(1e-5));
    // Two steps: the curve is the fall after removing the top half by the scores.
    bagnet::Tensor order = xt::arange<float>(float(map.size()));
    order.reshape(map.shape());
    std::vector<float> values(map.begin(), map.end());
    double removed = 0;
    for (std::size_t k = map.size(); k-- > map.size() - map.size() / 2;) removed += values[k];
    CHECK(bagnet::patch_deletion_area(map, order, 2) == Approx(removed / double(map.size())));
    CHECK(bagnet::patch_deletion_score(map, map, 8) == Approx(1.0));
    CHECK(bagnet::patch_deletion_score(map, bagnet::Tensor(-map), 8) == Approx(0.0).margin(1e-12));
    // The pixel attribution summed over a patch: a map of ones gives q * q for every patch.
    const bagnet::Tensor ones = xt::ones<float>({std::size_t(21), std::size_t(17)});
    const bagnet::Tensor sums = bagnet::patch_sums(ones, model.architecture());
    CHECK(sums.shape()[0] == map.shape()[0]);
    CHECK(sums.shape()[1] == map.shape()[1]);
    CHECK(xt::amin(sums)() == Approx(81.0));
    CHECK(xt::amax(sums)() == Approx(81.0));
}

TEST_CASE("the attribution benchmark over a data set is one process's for any number of processes",
          "[explain][attribution][distributed]") {
    const auto x = random_images(5, 16, 16, 12);
    const std::vector<std::int64_t> unlabelled(5, -1);
    const bagnet::data::TensorDataset set(x, unlabelled);
    const auto methods_of = [](const SmallNet& model) {
        return std::vector<bagnet::AttributionMethod>{bagnet::exact_evidence(model), bagnet::gradient_method(model),
                                                      bagnet::occlusion_method(model, 9, 4)};
    };
    SmallNet model(4, 4);
    // The means over the images, computed over the whole tensor at once.
    const auto whole = bagnet::benchmark_attributions(model, x, methods_of(model), 4, 8);
    bagnet::distributed::SingleProcess one;
    const auto alone = bagnet::benchmark_attributions(model, set, methods_of(model), 4, 8, {2, 1, false}, one);
    REQUIRE(alone.size() == whole.size());
    for (std::size_t m = 0; m < whole.size(); ++m) {
        INFO(whole[m].method);
        CHECK(alone[m].method == whole[m].method);
        CHECK(alone[m].rank_correlation == Approx(whole[m].rank_correlation).epsilon(1e-12));
        CHECK(alone[m].patch_deletion == Approx(whole[m].patch_deletion).epsilon(1e-12));
        CHECK(alone[m].pixel_deletion == Approx(whole[m].pixel_deletion).epsilon(1e-12));
    }
    for (int processes : {2, 3}) {
        std::vector<std::vector<bagnet::AttributionScore>> found(static_cast<std::size_t>(processes));
        bagnet::testing::run_ranks(processes, [&](bagnet::distributed::Communicator& communicator) {
            SmallNet own(4, 4);  // a model's plan cache serves one thread
            found[std::size_t(communicator.rank())] =
                bagnet::benchmark_attributions(own, set, methods_of(own), 4, 8, {2, 1, false}, communicator);
        });
        REQUIRE(found[0].size() == alone.size());
        for (std::size_t m = 0; m < alone.size(); ++m) {  // the same sums in the same order: equal, not close
            CHECK(found[0][m].rank_correlation == alone[m].rank_correlation);
            CHECK(found[0][m].patch_deletion == alone[m].patch_deletion);
            CHECK(found[0][m].pixel_deletion == alone[m].pixel_deletion);
        }
        for (int r = 1; r < processes; ++r) CHECK(found[std::size_t(r)].empty());
    }
}
