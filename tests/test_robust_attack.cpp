// The certificates against a real attack, and `bagnet certify` / `bagnet attack-patch` as a
// user runs them: a projected-gradient patch at every position on a stride never flips a
// certified image of the shipped Fashion-MNIST model, the attack itself works on the others,
// and bad input fails with one line, a non-zero exit code and no output file.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <tuple>

#include <xtensor/xview.hpp>

#include "bagnet/bagnet.hpp"
#include "bagnet/data/tensor_dataset.hpp"
#include "bagnet/data/fashion_mnist.hpp"
#include "bagnet/io/npy.hpp"
#include "bagnet/robust.hpp"
#include "cli_runner.hpp"
#include "error_matchers.hpp"
#include "random_tensors.hpp"
#include "thread_communicator.hpp"

namespace {

using bagnet::testing::fails_cleanly;
using bagnet::testing::run_bagnet;

std::string shipped_weights() {
    return bagnet::testing::environment("BAGNET_SOURCE_DIR") + "/models/fashion_mnist_fine9.safetensors";
}

bagnet::Model<bagnet::cpu> shipped_model() {
    bagnet::Model<bagnet::cpu> model(bagnet::architecture_by_name("fashionfine9"));
    model.load(shipped_weights());
    return model;
}

// The first `count` Fashion-MNIST test images, normalised.
bagnet::LabelledImages fashion_test(std::size_t count) {
    bagnet::LabelledImages data = bagnet::load_fashion_mnist("test");
    bagnet::normalize_fashion_mnist(data.images);
    data.images = bagnet::Tensor4(xt::view(data.images, xt::range(std::size_t(0), count)));
    data.labels.resize(count);
    return data;
}

// Labels as numpy writes an int64 array (bagnet's own npy writer writes float32).
void save_labels(const std::string& path, const std::vector<std::int64_t>& labels) {
    std::string header = "{'descr': '<i8', 'fortran_order': False, 'shape': (" + std::to_string(labels.size()) + ",), }";
    header.append(63 - (10 + header.size()) % 64, ' ');
    header += '\n';
    std::ofstream out(path, std::ios::binary);
    out.write("\x93NUMPY\x01\x00", 8);
    const char length[2] = {char(header.size() & 0xff), char(header.size() >> 8)};
    out.write(length, 2);
    out << header;
    out.write(reinterpret_cast<const char*>(labels.data()), std::streamsize(labels.size() * sizeof(std::int64_t)));
}

// The images in order, `batch` at a time.
struct InOrder {
    InOrder(const bagnet::Tensor4& x, const std::vector<std::int64_t>& labels, std::size_t batch)
        : set(x, labels), stream(set, bagnet::data::StreamOptions::in_order(batch)) {}
    bagnet::data::TensorDataset set;
    bagnet::data::BatchStream stream;
};

const bagnet::PixelRange fashion_pixels =
    bagnet::PixelRange::normalised({bagnet::fashion_mnist_mean}, {bagnet::fashion_mnist_std});

}  // namespace

TEST_CASE("the class-weighted input gradient is the weighted sum of class gradients", "[robust][gradient]") {
    bagnet::BagNet<9, bagnet::fashion_fine<3, 1>> model(3, 4);
    bagnet::testing::randomize(model, 4);
    const auto x = bagnet::testing::random_images(2, 20, 23, 5);
    bagnet::Tensor2 weights = xt::zeros<float>({2, 3});
    weights(0, 0) = 1, weights(0, 1) = -1, weights(1, 1) = 0.5f, weights(1, 2) = 2;
    const auto combined = bagnet::input_gradient(model, x, weights);
    const auto g0 = bagnet::input_gradient(model, x, 0), g1 = bagnet::input_gradient(model, x, 1),
               g2 = bagnet::input_gradient(model, x, 2);
    bagnet::Tensor4 expected = combined;
    xt::view(expected, 0) = xt::view(g0, 0) - xt::view(g1, 0);
    xt::view(expected, 1) = 0.5f * xt::view(g1, 1) + 2.f * xt::view(g2, 1);
    CHECK(bagnet::testing::max_relative_error(combined, expected) < 1e-5);
    REQUIRE_THROWS_WITH(bagnet::input_gradient(model, x, bagnet::Tensor2(xt::zeros<float>({2, 4}))),
                        bagnet::testing::one_line_mentioning({"class weights of shape [2, 4]", "3 classes"}));
}

TEST_CASE("a PGD patch at every position on a stride never flips a certified image", "[robust][attack]") {
    const auto model = shipped_model();
    const bagnet::LabelledImages data = fashion_test(300);
    const auto patch = bagnet::PatchSize::square(2);
    const auto options = bagnet::PatchAttackOptions().stride(6).steps(4).step_size(0.1);
    for (const bagnet::Defense defense : {bagnet::Defense(bagnet::MaskingOptions()),
                                          bagnet::Defense(bagnet::ClippingOptions().clip(1))}) {
        INFO(bagnet::defense_name(defense));
        InOrder all(data.images, data.labels, 100);
        const auto certificates = bagnet::certify(model, all.stream, patch, defense);
        // A small set: the first certified images, and uncertified ones the defense gets right.
        std::vector<std::size_t> chosen;
        std::size_t certified = 0, uncertified = 0;
        for (const auto& image : certificates.images) {
            if (image.certified && certified < 3) ++certified, chosen.push_back(image.index);
            if (!image.certified && image.robust_prediction == image.label && uncertified < 2)
                ++uncertified, chosen.push_back(image.index);
        }
        REQUIRE(certified > 0);
        const bagnet::Tensor4 x = xt::view(data.images, xt::keep(chosen));
        std::vector<std::int64_t> labels;
        for (std::size_t i : chosen) labels.push_back(data.labels[i]);
        InOrder subset(x, labels, 8);
        const auto report = bagnet::attack_patch(model, subset.stream, patch, fashion_pixels, defense, options);
        const bagnet::Tensor2 clean = bagnet::logits(model, x);
        REQUIRE(report.images.size() == chosen.size());
        for (std::size_t i = 0; i < chosen.size(); ++i) {
            const auto& attacked = report.images[i];
            INFO("test image " << chosen[i]);
            CHECK(attacked.certified == certificates.images[chosen[i]].certified);
            if (attacked.certified) CHECK_FALSE(attacked.robust_flipped);
            // The attack does its job: the margin of the best wrong class grows.
            double clean_margin = -1e30;
            for (std::size_t c = 0; c < 10; ++c)
                if (int(c) != labels[i]) clean_margin = std::max(clean_margin, double(clean(i, c) - clean(i, std::size_t(labels[i]))));
            CHECK(attacked.margin > clean_margin);
        }
        CHECK(report.summary().certified_flipped == 0);
    }
}

TEST_CASE("the attack's result does not depend on the thread count", "[robust][attack]") {
    const auto model = shipped_model();
    const bagnet::LabelledImages data = fashion_test(2);
    const auto run = [&](int threads) {
        bagnet::backend::cpu::set_threads(threads);
        InOrder images(data.images, data.labels, 2);
        return bagnet::to_json(bagnet::attack_patch(model, images.stream,
                                                    bagnet::PatchSize::square(3), fashion_pixels,
                                                    bagnet::MaskingOptions().threshold(0.25),
                                                    bagnet::PatchAttackOptions().stride(12).steps(3).batch_size(5)));
    };
    const std::string one = run(1), two = run(2);
    CHECK(one == two);
}

TEST_CASE("certificates and the attack shared between processes are one process's, byte for byte",
          "[robust][attack][distributed]") {
    // 7 images in batches of 2: processes 0 and 1 of 3 get two batches or one, the last a short one.
    const bagnet::LabelledImages data = fashion_test(7);
    const bagnet::data::TensorDataset set(data.images, data.labels);
    const bagnet::PatchSize patch = bagnet::PatchSize::square(3);
    const bagnet::Defense masking = bagnet::MaskingOptions().threshold(0.25).clip(4);
    const auto attack = bagnet::PatchAttackOptions().stride(9).steps(2).batch_size(3).seed(5);
    const auto model = shipped_model();
    InOrder certify_images(data.images, data.labels, 2), attack_images(data.images, data.labels, 2);
    const std::string certified = bagnet::to_json(bagnet::certify(model, certify_images.stream, patch, masking));
    const std::string attacked = bagnet::to_json(
        bagnet::attack_patch(model, attack_images.stream, patch, fashion_pixels, masking, attack));
    for (int processes : {1, 2, 3}) {
        const auto ranks = std::size_t(processes);
        std::vector<std::string> reports(ranks), attacks(ranks);
        std::vector<std::size_t> certified_counts(ranks), attacked_counts(ranks);
        bagnet::testing::run_ranks(processes, [&](bagnet::distributed::Communicator& communicator) {
            const auto own = shipped_model();  // a model's plan cache serves one thread
            const std::size_t r = std::size_t(communicator.rank());
            const auto c = bagnet::certify(own, set, patch, masking, {2, 1, false}, communicator);
            const auto a = bagnet::attack_patch(own, set, patch, fashion_pixels, masking, attack, {2, 1, false},
                                                communicator);
            reports[r] = bagnet::to_json(c);
            attacks[r] = bagnet::to_json(a);
            certified_counts[r] = c.images.size();
            attacked_counts[r] = a.images.size();
        });
        INFO(processes << " processes");
        CHECK(reports[0] == certified);
        CHECK(attacks[0] == attacked);
        for (int r = 1; r < processes; ++r) {
            CHECK(certified_counts[std::size_t(r)] == 0);  // the report is the first process's
            CHECK(attacked_counts[std::size_t(r)] == 0);
        }
    }
}

TEST_CASE("bagnet certify writes what the library computes", "[robust][cli]") {
    bagnet::testing::ScratchDirectory dir;
    const bagnet::LabelledImages data = fashion_test(6);
    bagnet::io::save_npy(dir.file("x.npy"), data.images);
    save_labels(dir.file("y.npy"), data.labels);
    const auto result = run_bagnet("certify --arch fashionfine9 --weights " + shipped_weights() + " --input " +
                                   dir.file("x.npy") + " --labels " + dir.file("y.npy") +
                                   " --patch 3 --defense masking --threshold 0.25 --clip 4 --output " + dir.file("r.json"));
    REQUIRE(result.exit_code == 0);
    CHECK(result.out.find("certified") != std::string::npos);
    InOrder images(data.images, data.labels, 64);
    const auto expected = bagnet::certify(shipped_model(), images.stream,
                                          bagnet::PatchSize::square(3), bagnet::MaskingOptions().threshold(0.25).clip(4));
    CHECK(bagnet::testing::read_text(dir.file("r.json")) == bagnet::to_json(expected));
}

TEST_CASE("bad certify and attack-patch input: one line, non-zero exit, no output file", "[robust][cli]") {
    bagnet::testing::ScratchDirectory dir;
    const bagnet::LabelledImages data = fashion_test(2);
    bagnet::io::save_npy(dir.file("x.npy"), data.images);
    save_labels(dir.file("y.npy"), data.labels);
    const std::vector<std::int64_t> out_of_range{3, 10};
    save_labels(dir.file("bad.npy"), out_of_range);
    const std::string model = "--arch fashionfine9 --weights " + shipped_weights() + " --input " + dir.file("x.npy");
    const std::string labels = " --labels " + dir.file("y.npy");
    const std::string out = " --output " + dir.file("out") + "/r.json";
    REQUIRE(run_bagnet("certify " + model + labels + " --patch 2 --output " + dir.file("ok.json")).exit_code == 0);
    std::filesystem::remove(dir.file("ok.json"));
    std::filesystem::create_directory(dir.file("out"));
    const std::vector<std::tuple<std::string, int, std::string>> cases{
        {"certify " + model + labels + " --patch 0" + out, 2, "--patch: Value 0 not in range 1"},
        {"certify " + model + labels + " --patch 29" + out, 1, "a 29 x 29 patch does not fit in 28 x 28 images"},
        {"certify " + model + labels + " --patch 2 --threshold 1" + out, 2, "threshold must be in [0, 1), got 1"},
        {"certify " + model + labels + " --patch 2 --threshold -0.5" + out, 2, "got -0.5"},
        {"certify " + model + labels + " --patch 2 --clip 0" + out, 2, "clip value must be positive, got 0"},
        {"certify " + model + labels + " --patch 2 --defense clipping --clip -1" + out, 2, "got -1"},
        {"certify " + model + " --labels " + dir.file("bad.npy") + " --patch 2" + out, 1,
         "label 10 is out of range for fashionfine9 with 10 classes"},
        {"certify " + model + " --patch 2" + out, 2, "has no label: give --labels Y.npy or --label L"},
        {"certify " + model + labels + " --patch 2 --defense clipping --threshold 0.1" + out, 2,
         "a threshold applies to the masking defense only"},
        {"certify " + model + labels + " --patch 2 --defense median" + out, 2, "--defense: median not in"},
        {"certify " + model + labels + out, 2, "--patch is required"},
        {"attack-patch " + model + labels + " --patch 2 --at 1,2 --stride 3" + out, 2, "--at excludes --stride"},
        {"attack-patch " + model + labels + " --patch 4 --at 25,0" + out, 1, "a 4 x 4 patch at (25, 0) does not fit"},
        {"attack-patch " + model + labels + " --patch 2 --step-size 0" + out, 2, "step size must be in (0, 1]"},
        {"attack-patch " + model + " --labels " + dir.file("bad.npy") + " --patch 2" + out, 1, "label 10 is out of range"},
        {"attack-patch " + model + labels + " --patch 2 --output " + dir.file("missing") + "/r.json", 1,
         "does not exist or is not writable"},
    };
    for (const auto& [arguments, code, message] : cases) {
        const auto result = run_bagnet(arguments);
        INFO(arguments << "\n" << result.err);
        CHECK(fails_cleanly(result, code, message));
        CHECK(std::filesystem::is_empty(dir.file("out")));
    }
}
