// The streaming input pipeline (bagnet/data/): RandomResizedCrop's geometry
// against torchvision's get_params draws (tests/reference/make_crop_fixture.py),
// batches that do not depend on the number of workers, on the order they are
// asked for or on how they are split over processes, corrupt files stopping the
// stream or skipped, and training on a small JPEG folder (make_decoder_fixtures.py)
// stopped and resumed, and from the command line with 1 and 3 workers.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "bagnet/data/image_folder.hpp"
#include "bagnet/data/source.hpp"
#include "bagnet/data/stream.hpp"
#include "bagnet/data/tensor_dataset.hpp"
#include "bagnet/bagnet.hpp"
#include "bagnet/io/npy.hpp"
#include "bagnet/train.hpp"
#include "cli_runner.hpp"
#include "fixtures.hpp"
#include "test_files.hpp"

namespace {

namespace fs = std::filesystem;
using namespace bagnet;
using Catch::Matchers::Contains;

// The largest distance between the empirical distribution functions of a and b.
double kolmogorov_smirnov(std::vector<double> a, std::vector<double> b) {
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    double distance = 0;
    std::size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        const double x = std::min(a[i], b[j]);
        while (i < a.size() && a[i] <= x) ++i;
        while (j < b.size() && b[j] <= x) ++j;
        distance = std::max(distance, std::abs(double(i) / double(a.size()) - double(j) / double(b.size())));
    }
    return distance;
}

struct Geometry {
    std::vector<double> area, aspect, centre_y, centre_x;
    void add(const data::CropBox& box, int height, int width) {
        area.push_back(double(box.height) * box.width / (double(height) * width));
        aspect.push_back(double(box.width) / box.height);
        centre_y.push_back((box.top + box.height / 2.0) / height);
        centre_x.push_back((box.left + box.width / 2.0) / width);
    }
};

std::string folder_fixture() { return bagnet::testing::fixture("decoders/folder"); }

bool identical(const Tensor4& a, const Tensor4& b) {
    return a.shape() == b.shape() && std::equal(a.data(), a.data() + a.size(), b.data());
}

// Every batch of `epochs` epochs, asked for in order.
std::vector<data::Batch> all_batches(data::BatchStream& stream, std::uint64_t epochs) {
    std::vector<data::Batch> out;
    for (std::uint64_t e = 0; e < epochs; ++e)
        for (std::size_t b = 0; b < stream.batches_per_epoch(); ++b) out.push_back(stream.batch(e, b));
    return out;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("RandomResizedCrop boxes follow torchvision's get_params distribution", "[data][transforms][fixture]") {
    const Tensor reference = io::load_npy_float(bagnet::testing::fixture("crop_params.npy"));
    const std::vector<std::pair<int, int>> sizes{{375, 500}, {1000, 150}, {224, 224}};  // as make_crop_fixture.py
    REQUIRE(reference.shape()[0] == sizes.size());
    const std::size_t draws = reference.shape()[1];
    // Two-sample Kolmogorov-Smirnov test at the 0.1% level: D > 1.95 sqrt(2 / n) rejects.
    const double critical = 1.95 * std::sqrt(2.0 / double(draws));
    for (std::size_t s = 0; s < sizes.size(); ++s) {
        const auto [height, width] = sizes[s];
        INFO("image " << height << " x " << width);
        Geometry theirs, ours;
        for (std::size_t d = 0; d < draws; ++d) {
            const data::CropBox box{int(reference(s, d, 0)), int(reference(s, d, 1)), int(reference(s, d, 2)),
                                    int(reference(s, d, 3))};
            theirs.add(box, height, width);
            data::Random rng(data::stream_seed(0, data::Purpose::item, s, d));
            const data::CropBox mine = data::random_resized_crop_box(height, width, rng);
            REQUIRE((mine.top >= 0 && mine.left >= 0 && mine.height >= 1 && mine.width >= 1));
            REQUIRE((mine.top + mine.height <= height && mine.left + mine.width <= width));
            ours.add(mine, height, width);
        }
        CHECK(kolmogorov_smirnov(ours.area, theirs.area) < critical);
        CHECK(kolmogorov_smirnov(ours.aspect, theirs.aspect) < critical);
        CHECK(kolmogorov_smirnov(ours.centre_y, theirs.centre_y) < critical);
        CHECK(kolmogorov_smirnov(ours.centre_x, theirs.centre_x) < critical);
    }
    // The test can fail: a scale range of (0.25, 1) instead of (0.08, 1) is rejected.
    Geometry narrow, theirs;
    for (std::size_t d = 0; d < draws; ++d) {
        data::Random rng(data::stream_seed(1, data::Purpose::item, 0, d));
        narrow.add(data::random_resized_crop_box(375, 500, rng, 0.25), 375, 500);
        theirs.add({int(reference(0, d, 0)), int(reference(0, d, 1)), int(reference(0, d, 2)), int(reference(0, d, 3))},
                   375, 500);
    }
    CHECK(kolmogorov_smirnov(narrow.area, theirs.area) > critical);
}

TEST_CASE("an epoch's order is a permutation that depends on the seed and the epoch only", "[data][sampler]") {
    const auto order = data::epoch_order(1000, true, 5, 2);
    std::set<std::size_t> distinct(order.begin(), order.end());
    CHECK(distinct.size() == 1000);
    CHECK(*distinct.rbegin() == 999);
    CHECK(order == data::epoch_order(1000, true, 5, 2));
    CHECK(order != data::epoch_order(1000, true, 5, 3));
    CHECK(order != data::epoch_order(1000, true, 6, 2));
    CHECK(data::epoch_order(4, false, 5, 2) == std::vector<std::size_t>{0, 1, 2, 3});
    CHECK(data::share(10, 0, 3) == std::pair<std::size_t, std::size_t>{0, 3});
    CHECK(data::share(10, 2, 3) == std::pair<std::size_t, std::size_t>{6, 10});
}

TEST_CASE("image-folder batches do not depend on workers, request order or process split", "[data][stream][fixture]") {
    const data::ImageFolder folder = data::scan_image_folder(folder_fixture());
    REQUIRE(folder.class_names == std::vector<std::string>{"cat", "dog", "fox"});
    REQUIRE(folder.files.size() == 12);
    CHECK(folder.labels == std::vector<std::int64_t>{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2});
    const data::ImageFolderDataset set(folder, data::ImageTransform::imagenet_train(32));
    const auto options = data::StreamOptions().batch(4).seeded(9);

    data::BatchStream one(set, data::StreamOptions(options).with_workers(1));
    data::BatchStream four(set, data::StreamOptions(options).with_workers(4).ahead(3));
    const auto expected = all_batches(one, 2);
    const auto with_four = all_batches(four, 2);
    REQUIRE(expected.size() == 6);
    for (std::size_t i = 0; i < expected.size(); ++i) {
        INFO("batch " << i);
        CHECK(identical(with_four[i].images, expected[i].images));
        CHECK(with_four[i].indices == expected[i].indices);
        CHECK(with_four[i].labels == expected[i].labels);
        REQUIRE(expected[i].images.shape() == Tensor4::shape_type{4, 3, 32, 32});
    }
    // Epoch 1 reshuffles and redraws the crops.
    CHECK_FALSE(identical(expected[0].images, expected[3].images));

    // Asked for out of order (a resumed run), batch (1, 1) is the same.
    data::BatchStream resumed(set, data::StreamOptions(options).with_workers(2));
    CHECK(identical(resumed.batch(1, 1).images, expected[4].images));
    CHECK(identical(resumed.batch(0, 0).images, expected[0].images));

    // Three processes' shares of every batch, put together, are the whole batch.
    for (std::size_t b = 0; b < 3; ++b) {
        std::vector<std::size_t> indices;
        std::vector<float> values;
        for (int rank = 0; rank < 3; ++rank) {
            data::BatchStream shard(set, data::StreamOptions(options).shard(rank, 3));
            const data::Batch part = shard.batch(1, b);
            indices.insert(indices.end(), part.indices.begin(), part.indices.end());
            values.insert(values.end(), part.images.begin(), part.images.end());
        }
        CHECK(indices == expected[3 + b].indices);
        CHECK(std::equal(values.begin(), values.end(), expected[3 + b].images.begin(), expected[3 + b].images.end()));
    }
    const data::Batch middle = one.items(1, 2, 1, 3);
    CHECK(std::vector<std::size_t>(expected[5].indices.begin() + 1, expected[5].indices.begin() + 3) == middle.indices);
    const data::Batch gathered = one.gather(1, {expected[5].indices[3]});
    CHECK(std::equal(gathered.images.begin(), gathered.images.end(), expected[5].images.begin() + 3 * 3 * 32 * 32));
}

TEST_CASE("the evaluation transform streams torchvision's preprocessing in data-set order", "[data][stream][fixture]") {
    const data::ImageFolder folder = data::scan_image_folder(folder_fixture());
    const data::ImageFolderDataset set(folder, data::ImageTransform::imagenet_eval(224));
    data::BatchStream stream(set, data::StreamOptions::in_order(5, 3));
    REQUIRE(stream.batches_per_epoch() == 3);  // 5 + 5 + 2: the short last batch is kept
    const data::Batch last = stream.batch(0, 2);
    CHECK(last.indices == std::vector<std::size_t>{10, 11});
    const Tensor one = io::imagenet_preprocess(folder.files[11]);
    CHECK(std::equal(one.begin(), one.end(), last.images.begin() + std::ptrdiff_t(one.size())));
}

TEST_CASE("a corrupt file stops the stream naming it, or is skipped and listed", "[data][stream]") {
    bagnet::testing::ScratchDirectory scratch;
    const fs::path root = scratch.file("data");
    for (const char* name : {"a", "b"}) fs::create_directories(root / name);
    for (const auto& [from, to] : {std::pair{"cat", "a"}, std::pair{"dog", "b"}})
        for (const auto& entry : fs::directory_iterator(fs::path(folder_fixture()) / from))
            fs::copy_file(entry.path(), root / to / entry.path().filename());
    const std::string broken = (root / "b" / "9.jpg").string();
    {
        std::ofstream(broken, std::ios::binary) << "\xff\xd8\xff not really a JPEG";
    }
    const data::ImageFolderDataset set(data::scan_image_folder(root.string()), data::ImageTransform::imagenet_eval(16));
    REQUIRE(set.size() == 9);
    data::BatchStream strict(set, data::StreamOptions::in_order(3, 2));
    CHECK_THROWS_WITH(all_batches(strict, 1), Contains(broken) && Contains("StreamOptions::skipping_corrupt"));

    data::BatchStream lenient(set, data::StreamOptions::in_order(3, 2).skipping_corrupt(true));
    std::size_t images = 0;
    for (int pass = 0; pass < 2; ++pass)
        for (const auto& batch : all_batches(lenient, 1)) images += batch.labels.size();
    CHECK(images == 16);
    const auto skipped = lenient.skipped();
    REQUIRE(skipped.size() == 1);  // listed once however often it is met
    CHECK(skipped[0].name == broken);
    CHECK_THAT(skipped[0].error, Contains("JPEG"));
}

namespace {
// Item `index` of a data set, loaded with a fixed generator.
std::vector<float> item(const data::Dataset& set, std::size_t index) {
    std::vector<float> out(set.shape().size());
    data::Random rng(0);
    set.load(index, rng, out.data());
    return out;
}
}  // namespace

TEST_CASE("a data source opens npy arrays, Fashion-MNIST, a folder and image files as the images they hold", "[data][source][fixture]") {
    bagnet::testing::ScratchDirectory scratch;
    Tensor4 images = Tensor4::from_shape({5, 2, 3, 3});
    for (std::size_t i = 0; i < images.size(); ++i) images.data()[i] = float(i) * 0.25f - 3;
    const std::string x = scratch.file("x.npy"), y = scratch.file("y.npy");
    io::save_npy(x, images);
    const std::vector<std::int64_t> labels{4, 0, 3, 1, 2};
    bagnet::testing::write_labels_npy(y, labels);

    // Arrays: the file's values and labels, in order; the first `limit` of them.
    const data::SourceData arrays(data::Source::arrays(x, y).limit(3));
    REQUIRE(arrays.set().size() == 3);
    CHECK(arrays.set().shape() == data::ItemShape{2, 3, 3});
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(arrays.set().label(i) == labels[i]);
        CHECK(item(arrays.set(), i) == std::vector<float>(images.data() + i * 18, images.data() + (i + 1) * 18));
    }
    CHECK(arrays.mean().empty());
    // Without labels every image gets the one given.
    const data::SourceData unlabelled(data::Source::arrays(x).label(2));
    CHECK(unlabelled.set().size() == 5);
    CHECK(unlabelled.set().label(4) == 2);
    // Training augments arrays (a shift over a border of fill values); evaluation never does.
    const auto shifted = data::TensorAugment().random_crop(2, 100.f);
    const data::SourceData training(data::Source::arrays(x, y), data::Use::training, shifted);
    const data::SourceData evaluated(data::Source::arrays(x, y), data::Use::evaluation, shifted);
    bool moved = false;
    for (std::size_t i = 0; i < 3; ++i) {
        moved = moved || item(training.set(), i) != item(evaluated.set(), i);
        CHECK(item(evaluated.set(), i) == item(arrays.set(), i));
    }
    CHECK(moved);

    // A named data set: Debian's Fashion-MNIST split, normalised with its statistics.
    const data::SourceData fashion(data::Source::named("fashion-mnist", "test").limit(2));
    const LabelledImages raw = load_fashion_mnist("test");
    REQUIRE(fashion.set().size() == 2);
    CHECK(fashion.set().label(1) == raw.labels[1]);
    const std::vector<float> first = item(fashion.set(), 0);
    REQUIRE(first.size() == 28 * 28);
    for (std::size_t p = 0; p < first.size(); p += 97)
        CHECK(first[p] == (raw.images.data()[p] - fashion_mnist_mean) / fashion_mnist_std);
    CHECK(fashion.mean() == std::vector<float>{fashion_mnist_mean});
    CHECK(fashion.set().class_names() == fashion_mnist_class_names());

    // A folder: labels by sub-folder, each image as torchvision's evaluation preprocessing.
    const data::SourceData folder(data::Source::folder(folder_fixture()));
    const data::ImageFolder listing = data::scan_image_folder(folder_fixture());
    REQUIRE(folder.set().size() == 12);
    CHECK(folder.set().label(11) == 2);
    const Tensor expected = io::imagenet_preprocess(listing.files[11]);
    CHECK(item(folder.set(), 11) == std::vector<float>(expected.begin(), expected.end()));
    CHECK(folder.mean() == io::imagenet_mean);
    // Training a folder takes the source's transform (augmented crops by default) at its size.
    const data::SourceData crops(data::Source::folder(folder_fixture()).size(32), data::Use::training);
    CHECK(crops.set().shape() == data::ItemShape{3, 32, 32});

    // Image files: one label for all.
    const data::SourceData files(data::Source::files({listing.files[0], listing.files[5]}).label(7));
    REQUIRE(files.set().size() == 2);
    CHECK(files.set().label(1) == 7);
    CHECK(files.set().name(1) == listing.files[5]);

    // Impossible descriptions are refused in one line before anything is read.
    const auto refused = [](const data::Source& s) {
        try {
            s.validate();
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK_THAT(refused(data::Source::named("cifar")), Contains("unknown dataset 'cifar' (expected fashion-mnist)"));
    CHECK_THAT(refused(data::Source::named("fashion-mnist", "validation")), Contains("unknown split 'validation'"));
    CHECK_THAT(refused(data::Source::folder(folder_fixture()).label(1)), Contains("a label is for images given without labels"));
    CHECK_THAT(refused(data::Source::arrays(x, y).label(1)), Contains("a label is for images given without labels"));
    CHECK_THAT(refused(data::Source::files({})), Contains("no image files given"));
    CHECK_THAT(refused(data::Source::folder(folder_fixture()).size(4)), Contains("8 to 4096 pixels, got 4"));
    CHECK_THROWS_WITH(data::SourceData(data::Source::arrays(scratch.file("missing.npy"))), Contains("missing.npy"));
}

TEST_CASE("in-memory images stream with per-item flips and shifts", "[data][stream]") {
    Tensor4 images = Tensor4::from_shape({6, 1, 4, 4});
    for (std::size_t i = 0; i < images.size(); ++i) images.data()[i] = float(i);
    const std::vector<std::int64_t> labels{0, 1, 2, 3, 4, 5};
    const data::TensorDataset set(images, labels, data::TensorAugment().random_crop(1, -7.f).random_flip(true));
    data::BatchStream a(set, data::StreamOptions().batch(3).seeded(1).with_workers(1));
    data::BatchStream b(set, data::StreamOptions().batch(3).seeded(1).with_workers(3));
    const auto first = all_batches(a, 3), second = all_batches(b, 3);
    bool padded = false;
    for (std::size_t i = 0; i < first.size(); ++i) {
        CHECK(identical(first[i].images, second[i].images));
        padded = padded || std::count(first[i].images.begin(), first[i].images.end(), -7.f) > 0;
    }
    CHECK(padded);
}

TEST_CASE("training on an image folder stopped and resumed ends with the uninterrupted weights", "[data][train][fixture]") {
    bagnet::testing::ScratchDirectory scratch;
    const data::ImageFolderDataset set(data::scan_image_folder(folder_fixture()), data::ImageTransform::imagenet_train(24));
    const auto schedule = train::Schedule::cosine(0.05, 4).warmup(1);
    const auto options = [](const std::string& checkpoint) {
        return train::FitOptions().with_steps(4).with_checkpoint(checkpoint, 1);
    };
    // A 4-step run, stopped as if killed after `stop` steps (before that step's checkpoint), from
    // `resume_from` when given; the stream has `workers` threads.
    const auto run = [&](long stop, int workers, const std::string& resume_from, const std::string& checkpoint) {
        Model<cpu> model(architecture_by_name("bagnet9", 3), 4);
        train::Sgd sgd(train::SgdOptions().momentum(0.9));
        data::BatchStream stream(set, data::StreamOptions().batch(4).seeded(4).with_workers(workers));
        train::Position position{0, 0, 0, 4};
        if (!resume_from.empty()) position = train::resume(resume_from, model, sgd, schedule, stream, options(checkpoint));
        train::Callbacks killed;
        killed.on_step = [&](const train::StepReport& r) {
            if (r.step == stop) throw std::runtime_error("killed");
        };
        train::fit(model, sgd, schedule, stream, options(checkpoint), position, killed);
        return model.parameters();
    };
    const Parameters uninterrupted = run(0, 1, "", scratch.file("full.ckpt"));
    CHECK_THROWS_WITH(run(3, 3, "", scratch.file("part.ckpt")), "killed");  // inside epoch 0 (3 batches an epoch)
    const Parameters resumed = run(0, 2, scratch.file("part.ckpt"), scratch.file("part.ckpt"));
    for (const auto& [key, value] : uninterrupted.tensors()) {
        INFO(key);
        CHECK(std::equal(value.begin(), value.end(), resumed.at(key).begin(), resumed.at(key).end()));
    }
}

TEST_CASE("bagnet train gives the same weights with 1 and 3 workers", "[data][cli][fixture]") {
    using bagnet::testing::run_bagnet;
    bagnet::testing::ScratchDirectory scratch;
    const std::string common = "train --arch bagnet9 --classes 3 --data-dir " + folder_fixture() +
                               " --size 24 --batch-size 4 --threads 2 --seed 4 --lr 0.05 --train-transform imagenet"
                               " --steps 4 --metrics " + scratch.file("m.json");
    const auto run = [&](const std::string& extra) {
        const auto result = run_bagnet(common + " " + extra);
        INFO(result.err);
        REQUIRE(result.exit_code == 0);
    };
    run("--workers 1 --save " + scratch.file("one.safetensors"));
    run("--workers 3 --save " + scratch.file("three.safetensors"));
    const std::string one = read_file(scratch.file("one.safetensors"));
    REQUIRE(one.size() > 1000);
    CHECK(read_file(scratch.file("three.safetensors")) == one);
    const std::string metrics = read_file(scratch.file("m.json"));
    CHECK_THAT(metrics, Contains("\"workers\": 3") && Contains("\"data_wait_fraction\"") &&
                            Contains("\"skipped_files\": []") && Contains("\"train_transform\": \"imagenet\""));
}

TEST_CASE("the analyses stream an image folder: heatmap, patches and explain take --data-dir", "[data][cli][fixture]") {
    using bagnet::testing::run_bagnet;
    bagnet::testing::ScratchDirectory scratch;
    const std::string weights = scratch.file("w.safetensors");
    Model<cpu>(architecture_by_name("bagnet9", 3), 2).save(weights);
    const std::string model = "--arch bagnet9 --classes 3 --weights " + weights + " --threads 2 --workers 2 ";
    const std::string data = "--data-dir " + folder_fixture() + " --limit 3 ";
    auto result = run_bagnet("heatmap " + model + data + "--class 1 --output " + scratch.file("h.png"));
    INFO(result.err);
    CHECK(result.exit_code == 0);
    const io::Image picture = io::load_image(scratch.file("h.png"));
    CHECK(picture.height > 3 * 224);  // three figures, one under the other

    result = run_bagnet("patches " + model + data + "--class 0 --top 2 --output-dir " + scratch.file("."));
    CHECK(result.exit_code == 0);
    const std::string listing = read_file(scratch.file("patches_class0.json"));
    CHECK_THAT(listing, Contains("\"images_scanned\": 3") && Contains(folder_fixture() + "/cat/"));

    result = run_bagnet("explain " + model + data + "--images 2 --top 1 --patches 1 --output-dir " + scratch.file("."));
    CHECK(result.exit_code == 0);
    CHECK_THAT(read_file(scratch.file("report.json")), Contains(folder_fixture() + "/cat/2.jpg"));
}
