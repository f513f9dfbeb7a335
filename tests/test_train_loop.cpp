// Optimizers, schedules, the loader, the training loop, checkpoints and the IDX
// reader, on small synthetic data.
#include <catch2/catch.hpp>

#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <thread>
#include <utility>

#include "bagnet/bagnet.hpp"
#include "bagnet/train.hpp"
#include "test_files.hpp"
#include "thread_communicator.hpp"
#include "train_test_support.hpp"

using namespace bagnet;
using bagnet::testing::random_input;
using bagnet::testing::ScratchDirectory;

namespace {

// 24 random 28 x 28 images in 10 classes.
LabelledImages synthetic(std::size_t n = 24, std::uint64_t seed = 1) {
    LabelledImages data{random_input(n, 1, 28, 28, seed), {}};
    for (std::size_t i = 0; i < n; ++i) data.labels.push_back(std::int64_t(i % 10));
    return data;
}

Architecture tiny() { return architecture_by_name("fashion9"); }

template <class A, class B>
bool identical(const A& a, const B& b) {
    return std::equal(a.shape().begin(), a.shape().end(), b.shape().begin(), b.shape().end()) &&
           std::equal(a.data(), a.data() + a.size(), b.data());
}

bool same(const Parameters& a, const Parameters& b) {
    for (const auto& [key, value] : a.tensors())
        if (!identical(value, b.at(key))) return false;
    return true;
}

}  // namespace

TEST_CASE("SGD follows PyTorch's update rule", "[train][optimizer]") {
    Parameters params;
    params.tensors()["w"] = Tensor{1.0f, -2.0f};
    train::Gradients g{{"w", Tensor{0.5f, 0.25f}}};
    train::Sgd sgd(train::SgdOptions().momentum(0.9).weight_decay(0.1).nesterov(true));
    sgd.step(params, g, 0.1);
    // d = g + 0.1 p = (0.6, 0.05); buf = d; nesterov: d + 0.9 buf = 1.9 d
    CHECK(params.at("w")(0) == Approx(1.0 - 0.1 * 1.9 * 0.6));
    CHECK(params.at("w")(1) == Approx(-2.0 - 0.1 * 1.9 * 0.05));
    const double p0 = params.at("w")(0), buf0 = 0.6, d = 0.5 + 0.1 * p0;
    sgd.step(params, g, 0.1);
    const double buf = 0.9 * buf0 + d;
    CHECK(params.at("w")(0) == Approx(p0 - 0.1 * (d + 0.9 * buf)));
    CHECK(sgd.state().count("momentum_buffer.w") == 1);
}

TEST_CASE("AdamW follows PyTorch's update rule", "[train][optimizer]") {
    Parameters params;
    params.tensors()["w"] = Tensor{1.0f};
    train::AdamW adam(train::AdamWOptions().weight_decay(0.01));
    adam.step(params, {{"w", Tensor{0.5f}}}, 0.1);
    // Step 1: m^ = g, v^ = g^2, so the step is lr * g / (|g| + eps) after decoupled decay.
    CHECK(params.at("w")(0) == Approx(1.0 * (1 - 0.1 * 0.01) - 0.1 * 0.5 / (0.5 + 1e-8)));
}

TEST_CASE("schedules warm up linearly and decay", "[train][schedule]") {
    const auto cosine = train::Schedule::cosine(0.1, 110).warmup(10);
    CHECK(cosine(0) == Approx(0.01));
    CHECK(cosine(9) == Approx(0.1));
    CHECK(cosine(10) == Approx(0.1));
    CHECK(cosine(60) == Approx(0.05));
    CHECK(cosine(110) == Approx(0.0).margin(1e-12));
    const auto step = train::Schedule::step(1.0, 5, 0.5);
    CHECK(step(4) == 1.0);
    CHECK(step(5) == 0.5);
    CHECK(step(12) == 0.25);
}

TEST_CASE("the progress line shows an ETA only once a step has been timed", "[train][progress]") {
    std::FILE* log = std::tmpfile();  // not a terminal: plain lines, here one per update
    REQUIRE(log != nullptr);
    train::Progress progress(468, log, 0.0);
    progress.update(0, 1, 100, 2.5);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    progress.update(0, 2, 100, 2.4);
    progress.update(3, 468, 100, 0.5);
    std::rewind(log);
    std::vector<std::string> lines;
    for (char line[256]; std::fgets(line, sizeof line, log);) lines.emplace_back(line);
    std::fclose(log);
    REQUIRE(lines.size() == 3);
    CHECK(lines[0] == "epoch 0  step 1/468  100.0 img/s  loss 2.5000\n");  // step 1: nothing timed yet
    // 466 steps to go at about 20 ms each: 9 s or more (a loaded machine sleeps longer).
    CHECK_THAT(lines[1], Catch::StartsWith("epoch 0  step 2/468  100.0 img/s  loss 2.4000  ETA 0:0"));
    CHECK(lines[1] != "epoch 0  step 2/468  100.0 img/s  loss 2.4000  ETA 0:00:00\n");
    CHECK(lines[2] == "epoch 3  step 468/468  100.0 img/s  loss 0.5000  ETA 0:00:00\n");
}

// A stream over images in memory (the data set and the stream live together).
struct Stream {
    Stream(const LabelledImages& data, data::StreamOptions options, data::TensorAugment augment = {})
        : set(data, augment), stream(set, options) {}
    data::TensorDataset set;
    data::BatchStream stream;
};

TEST_CASE("the stream is deterministic, covers every image and augments", "[train][data]") {
    const LabelledImages data = synthetic();
    Stream a(data, data::StreamOptions().batch(8).seeded(3)), b(data, data::StreamOptions().batch(8).seeded(3));
    std::vector<std::int64_t> seen;
    std::vector<train::Batch> in_order;
    for (std::size_t i = 0; i < a.stream.batches_per_epoch(); ++i) {
        in_order.push_back(a.stream.batch(0, i));
        seen.insert(seen.end(), in_order.back().labels.begin(), in_order.back().labels.end());
    }
    for (std::size_t i = b.stream.batches_per_epoch(); i-- > 0;)
        CHECK(identical(b.stream.batch(0, i).images, in_order[i].images));
    std::sort(seen.begin(), seen.end());
    std::vector<std::int64_t> all = data.labels;
    std::sort(all.begin(), all.end());
    CHECK(seen == all);
    CHECK_FALSE(a.stream.batch(0, 0).labels == a.stream.batch(1, 0).labels);  // reshuffled each epoch

    Stream plain(data, data::StreamOptions().batch(24).shuffled(false));
    CHECK(identical(plain.stream.batch(0, 0).images, data.images));
    Stream flipped(data, data::StreamOptions().batch(24).shuffled(false), data::TensorAugment().random_flip(true));
    const auto f = flipped.stream.batch(0, 0).images;
    std::size_t mirrored = 0;
    for (std::size_t i = 0; i < 24; ++i) {
        bool is_mirror = true, is_same = true;
        for (std::size_t y = 0; y < 28; ++y)
            for (std::size_t x = 0; x < 28; ++x) {
                is_mirror = is_mirror && f(i, 0, y, x) == data.images(i, 0, y, 27 - x);
                is_same = is_same && f(i, 0, y, x) == data.images(i, 0, y, x);
            }
        CHECK((is_mirror || is_same));
        mirrored += is_mirror;
    }
    CHECK(mirrored > 0);
    CHECK(mirrored < 24);
}

TEST_CASE("a resumed run ends with the same weights as an uninterrupted one", "[train][checkpoint]") {
    ScratchDirectory dir;
    const LabelledImages data = synthetic();
    const auto schedule = train::Schedule::cosine(0.05, 6).warmup(2);
    const auto options = [&](const std::string& checkpoint) {
        return train::FitOptions().with_steps(6).with_checkpoint(checkpoint, 1);
    };
    // Trains for 6 steps, or stops as if killed after `stop_after` steps (before that step's checkpoint).
    auto run = [&](const std::string& resume_from, const std::string& checkpoint, long stop_after) {
        Model<cpu> model(tiny(), 7);
        train::Sgd sgd(train::SgdOptions().momentum(0.9).weight_decay(1e-3));
        Stream loader(data, data::StreamOptions().batch(8).seeded(5),
                      data::TensorAugment().random_crop(2, 0.f).random_flip(true));
        train::Position position{0, 0, 0, 5};
        if (!resume_from.empty()) position = train::resume(resume_from, model, sgd, schedule, loader.stream, options(checkpoint));
        train::Callbacks killed;
        killed.on_step = [&](const train::StepReport& r) {
            if (r.step == stop_after) throw std::runtime_error("killed");
        };
        train::fit(model, sgd, schedule, loader.stream, options(checkpoint), position, killed);
        return model.parameters();
    };
    const Parameters uninterrupted = run("", dir.file("full.ckpt"), 0);
    CHECK_THROWS_WITH(run("", dir.file("part.ckpt"), 4), "killed");  // mid-epoch: 3 batches per epoch
    const Parameters resumed = run(dir.file("part.ckpt"), dir.file("part.ckpt"), 0);
    CHECK(same(resumed, uninterrupted));
}

TEST_CASE("a run resumed for more steps ends where a run of that length would", "[train][checkpoint]") {
    ScratchDirectory dir;
    const LabelledImages data = synthetic();
    const auto schedule = train::Schedule::step(0.05, 2, 0.5).warmup(1);
    // Trains until `steps` (from the checkpoint, when given), writing a checkpoint after every step.
    auto run = [&](const std::string& resume_from, const std::string& checkpoint, long steps) {
        Model<cpu> model(tiny(), 7);
        train::Sgd sgd(train::SgdOptions().momentum(0.9));
        Stream loader(data, data::StreamOptions().batch(8).seeded(5), data::TensorAugment().random_flip(true));
        const auto options = train::FitOptions().with_steps(steps).with_checkpoint(checkpoint, 1);
        train::Position position{0, 0, 0, 5};
        if (!resume_from.empty()) position = train::resume(resume_from, model, sgd, schedule, loader.stream, options);
        train::fit(model, sgd, schedule, loader.stream, options, position);
        return model.parameters();
    };
    const Parameters straight = run("", dir.file("straight.ckpt"), 7);  // 3 batches an epoch: 2 epochs and a step
    const Parameters first = run("", dir.file("c.ckpt"), 3);
    CHECK_FALSE(same(first, straight));
    CHECK(same(run(dir.file("c.ckpt"), dir.file("c.ckpt"), 7), straight));
    // A shorter run is fine too, but not one shorter than the checkpoint's run has gone.
    CHECK_THROWS_WITH(run(dir.file("c.ckpt"), dir.file("other.ckpt"), 6),
                      Catch::Contains("at step 7, past the 6 steps of this one"));
}

TEST_CASE("a stop request ends training at the next step boundary, checkpointed", "[train][checkpoint][stop]") {
    ScratchDirectory dir;
    const LabelledImages data = synthetic();
    const auto schedule = train::Schedule::cosine(0.05, 6).warmup(2);
    // Trains for 6 steps (3 an epoch), asked to stop during step `stop_at`.
    const auto run = [&](long stop_at, const std::string& from, train::FitEnd expected_end, long expected_step) {
        Model<cpu> model(tiny(), 7);
        train::Sgd sgd(train::SgdOptions().momentum(0.9));
        Stream loader(data, data::StreamOptions().batch(8).seeded(5));
        train::StopRequest stop;
        const auto options = train::FitOptions().with_steps(6).with_checkpoint(dir.file("c.ckpt")).stopping_on(stop);
        train::Position position{0, 0, 0, 5};
        if (!from.empty()) position = train::resume(from, model, sgd, schedule, loader.stream, options);
        train::Callbacks callbacks;
        callbacks.on_step = [&](const train::StepReport& r) {
            if (r.step == stop_at) stop.request();
        };
        CHECK(train::fit(model, sgd, schedule, loader.stream, options, position, callbacks) == expected_end);
        CHECK(position.step == expected_step);
        return model.parameters();
    };
    const Parameters uninterrupted = run(0, "", train::FitEnd::completed, 6);
    run(2, "", train::FitEnd::stopped, 2);
    // The checkpoint was written at the stop, not only at the end of the epoch.
    CHECK(io::SafetensorsFile(dir.file("c.ckpt")).metadata().at("step") == "2");
    CHECK(same(run(0, dir.file("c.ckpt"), train::FitEnd::completed, 6), uninterrupted));
    // A request during the last step is not lost: the run is whole, and says it was stopped.
    run(6, "", train::FitEnd::stopped, 6);
}

TEST_CASE("a stop request in one process stops every process after the same step", "[train][stop][distributed]") {
    const LabelledImages data = synthetic();
    const auto schedule = train::Schedule::constant(0.05);
    std::vector<long> steps(3, -1);
    std::vector<int> stopped(3, 0);
    bagnet::testing::run_ranks(3, [&](distributed::Communicator& communicator) {
        const int rank = communicator.rank();
        Model<cpu> model(tiny(), 7);
        train::Sgd sgd;
        Stream loader(data, data::StreamOptions().batch(6).seeded(5).shard(rank, 3));
        train::StopRequest stop;
        auto options = train::FitOptions().with_steps(8).stopping_on(stop);
        options.train.processes = &communicator;
        train::Callbacks callbacks;
        callbacks.on_step = [&](const train::StepReport& r) {
            if (rank == 1 && r.step == 3) stop.request();
        };
        train::Position position{0, 0, 0, 5};
        stopped[std::size_t(rank)] =
            train::fit(model, sgd, schedule, loader.stream, options, position, callbacks) == train::FitEnd::stopped;
        steps[std::size_t(rank)] = position.step;
    });
    CHECK(stopped == std::vector<int>{1, 1, 1});
    CHECK(steps == std::vector<long>{3, 3, 3});
}

TEST_CASE("resuming under another seed or schedule is refused", "[train][checkpoint]") {
    ScratchDirectory dir;
    const LabelledImages data = synthetic();
    Model<cpu> model(tiny(), 7);
    train::Sgd sgd;
    Stream loader(data, data::StreamOptions().batch(8).seeded(5));
    const auto schedule = train::Schedule::cosine(0.05, 6).warmup(2);
    const auto options = train::FitOptions().with_steps(6).with_checkpoint(dir.file("c.ckpt"), 1);
    train::Position position{0, 0, 0, 5};
    train::Callbacks stop;
    stop.on_step = [](const train::StepReport& r) {
        if (r.step == 2) throw std::runtime_error("stopped");
    };
    CHECK_THROWS(train::fit(model, sgd, schedule, loader.stream, options, position, stop));
    Stream other_seed(data, data::StreamOptions().batch(8).seeded(6));
    CHECK_THROWS_WITH(train::resume(dir.file("c.ckpt"), model, sgd, schedule, other_seed.stream, options),
                      Catch::Contains("seed 5") && Catch::Contains("seed 6"));
    CHECK_THROWS_WITH(train::resume(dir.file("c.ckpt"), model, sgd, train::Schedule::constant(0.05), loader.stream, options),
                      Catch::Contains("cosine lr 0.05 to 0 over 6 steps, 2 warm-up steps") &&
                          Catch::Contains("constant lr 0.05"));
    CHECK_THROWS_WITH(train::resume(dir.file("c.ckpt"), model, sgd, train::Schedule::cosine(0.05, 8).warmup(2),
                                    loader.stream, train::FitOptions().with_steps(8)),
                      Catch::Contains("over 6 steps, 2 warm-up steps', this one 'cosine lr 0.05 to 0 over 8 steps") &&
                          Catch::Contains("keep the recorded cosine length"));
    // The recorded cosine, kept, over a longer run.
    CHECK(train::resume(dir.file("c.ckpt"), model, sgd, schedule, loader.stream, train::FitOptions().with_steps(8))
              .step == 1);
    CHECK(train::resume(dir.file("c.ckpt"), model, sgd, schedule, loader.stream, options).step == 1);
}

TEST_CASE("a checkpoint of another architecture or optimizer is refused", "[train][checkpoint]") {
    ScratchDirectory dir;
    Model<cpu> model(tiny());
    train::Sgd sgd;
    train::save_checkpoint(dir.file("c.ckpt"), model.architecture(), model.parameters(), sgd, {}, {});
    Parameters params;
    train::Sgd other_sgd;
    CHECK_THROWS_WITH(train::load_checkpoint(dir.file("c.ckpt"), architecture_by_name("fashion17"), params, other_sgd),
                      Catch::Contains("checkpoint of fashion9") && Catch::Contains("training fashion17"));
    train::AdamW adam;
    CHECK_THROWS_WITH(train::load_checkpoint(dir.file("c.ckpt"), model.architecture(), params, adam),
                      Catch::Contains("trained with sgd"));
}

TEST_CASE("a checkpoint's counts and seed are read whole: any 64-bit seed, no sign, no trailing text",
          "[train][checkpoint][fuzz]") {
    ScratchDirectory dir;
    Model<cpu> model(tiny());
    train::Sgd sgd;
    const std::uint64_t seed = std::numeric_limits<std::uint64_t>::max();  // std::stol refused it
    train::save_checkpoint(dir.file("c.ckpt"), model.architecture(), model.parameters(), sgd, {30, 10, 12, seed},
                           {"constant lr 0.1", 40});
    Parameters params;
    const train::Checkpoint loaded = train::load_checkpoint(dir.file("c.ckpt"), model.architecture(), params, sgd);
    CHECK(loaded.position.seed == seed);
    CHECK(loaded.position.epoch == 10);
    std::ifstream in(dir.file("c.ckpt"), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Edits of the same length keep the header's size and the tensors' offsets.
    for (const auto& [key, value] : {std::pair<std::string, std::string>{"epoch", "1x"}, {"batch", "-2"}}) {
        std::string hostile = bytes;
        const std::string field = "\"" + key + "\":\"1";
        const auto at = hostile.find(field);
        REQUIRE(at != std::string::npos);
        hostile.replace(at + field.size() - 1, 2, value);
        const io::SafetensorsView view(reinterpret_cast<const unsigned char*>(hostile.data()), hostile.size(), "h.ckpt");
        CHECK_THROWS_WITH(train::load_checkpoint(view, model.architecture(), params, sgd),
                          "h.ckpt: checkpoint metadata '" + key + "' is not a number from 0 to 9223372036854775807");
    }
}

TEST_CASE("a non-finite loss stops training and keeps the last checkpoint", "[train][checkpoint]") {
    ScratchDirectory dir;
    LabelledImages data = synthetic();
    Model<cpu> model(tiny());
    train::Sgd sgd;
    Stream loader(data, data::StreamOptions().batch(8));
    train::Position position;
    train::fit(model, sgd, train::Schedule::constant(0.01), loader.stream,
               train::FitOptions().with_steps(1).with_checkpoint(dir.file("c.ckpt")), position);
    std::ifstream before_file(dir.file("c.ckpt"), std::ios::binary);
    const std::string before((std::istreambuf_iterator<char>(before_file)), {});
    data.images(3, 0, 4, 4) = std::numeric_limits<float>::infinity();
    Stream poisoned(data, data::StreamOptions().batch(24).shuffled(false));
    position = {};
    CHECK_THROWS_WITH(train::fit(model, sgd, train::Schedule::constant(0.01), poisoned.stream,
                                 train::FitOptions().with_steps(2).with_checkpoint(dir.file("c.ckpt")), position),
                      Catch::Contains("non-finite"));
    std::ifstream after_file(dir.file("c.ckpt"), std::ios::binary);
    CHECK(std::string((std::istreambuf_iterator<char>(after_file)), {}) == before);
}

TEST_CASE("frozen layers stay as they are; only the head is fine-tuned", "[train][loop]") {
    Model<cpu> model(tiny(), 3);
    const Parameters before = model.parameters();
    train::Sgd sgd(train::SgdOptions().momentum(0.9));
    train::TrainOptions options;
    options.frozen = train::frozen_except(model.architecture(), {"fc."});
    const LabelledImages data = synthetic(8);
    train::train_step(model, sgd, train::Batch{data.images, data.labels, {}}, 0.1, options);
    for (const auto& [key, value] : before.tensors()) {
        INFO(key);
        CHECK(identical(model.parameters().at(key), value) == (key.rfind("fc.", 0) != 0));
    }
}

TEST_CASE("gradient accumulation gives the full batch's step", "[train][loop]") {
    const LabelledImages data = synthetic(8);
    auto step = [&](int accumulate) {
        Model<cpu> model(tiny(), 3);
        train::Sgd sgd;
        train::TrainOptions options;
        options.accumulate = accumulate;
        options.batch_norm = train::Mode::evaluation;  // batch statistics would differ per micro-batch
        train::train_step(model, sgd, train::Batch{data.images, data.labels, {}}, 0.1, options);
        return model.parameters();
    };
    const Parameters whole = step(1), accumulated = step(4);
    for (const auto& [key, value] : whole.tensors()) {
        INFO(key);
        CHECK(bagnet::testing::max_relative_error(accumulated.at(key), value, 1e-6) < 1e-4);
    }
}

TEST_CASE("evaluate reports loss, top-1 and top-5", "[train][loop]") {
    Model<cpu> model(tiny(), 3);
    const LabelledImages data = synthetic(12);
    const auto metrics = train::evaluate(model, data, 5);
    const Tensor2 scores = logits(model, data.images);
    double top1 = 0;
    for (std::size_t i = 0; i < 12; ++i) {
        std::size_t best = 0;
        for (std::size_t k = 1; k < 10; ++k)
            if (scores(i, k) > scores(i, best)) best = k;
        top1 += double(best == std::size_t(data.labels[i]));
    }
    CHECK(metrics.top1 == Approx(top1 / 12));
    CHECK(metrics.top5 >= metrics.top1);
    CHECK(metrics.loss > 0);
    LabelledImages bad = data;
    bad.labels[5] = 10;
    CHECK_THROWS_WITH(train::evaluate(model, bad), Catch::Contains("label 10 of image 5 is out of range for 10 classes"));
}

namespace {
void write_gz(const std::string& path, const std::vector<unsigned char>& bytes) {
    gzFile f = gzopen(path.c_str(), "wb");
    REQUIRE(f);
    gzwrite(f, bytes.data(), unsigned(bytes.size()));
    gzclose(f);
}
}  // namespace

TEST_CASE("IDX files load, and broken ones are reported in one line", "[io][idx]") {
    ScratchDirectory dir;
    write_gz(dir.file("images.gz"), {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 255, 51, 102});
    write_gz(dir.file("labels.gz"), {0, 0, 8, 1, 0, 0, 0, 2, 7, 3});
    const LabelledImages data = load_idx(dir.file("images.gz"), dir.file("labels.gz"));
    REQUIRE(data.images.shape() == (std::array<std::size_t, 4>{2, 1, 1, 2}));
    CHECK(data.images(0, 0, 0, 1) == 1.f);
    CHECK(data.images(1, 0, 0, 0) == Approx(0.2));
    CHECK(data.labels == std::vector<std::int64_t>{7, 3});

    write_gz(dir.file("short.gz"), {0, 0, 8, 1, 0, 0, 0, 3, 7, 3, 1});
    CHECK_THROWS_WITH(load_idx(dir.file("images.gz"), dir.file("short.gz")), Catch::Contains("holds 3 labels but"));
    write_gz(dir.file("truncated.gz"), {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 255});
    CHECK_THROWS_WITH(load_idx(dir.file("truncated.gz"), dir.file("labels.gz")), Catch::Contains("truncated"));
    // A header's claim costs nothing until the data is there: 2^30 pixels in a 20-byte file (fuzz_idx).
    write_gz(dir.file("claim.gz"), {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 64, 0, 0, 1, 0, 0, 1, 2, 3, 4});
    CHECK_THROWS_WITH(io::read_idx_gz(dir.file("claim.gz")), Catch::Contains("truncated IDX file"));
    // Data of more than one 16 MiB piece is read whole.
    std::vector<unsigned char> large{0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 16, 1, 0, 0, 16, 1};
    large.resize(large.size() + 4097 * 4097, 9);
    large.back() = 7;
    write_gz(dir.file("large.gz"), large);
    const io::IdxArray read = io::read_idx_gz(dir.file("large.gz"));
    CHECK(read.shape == std::vector<std::size_t>{1, 4097, 4097});
    CHECK((read.data.size() == 4097 * 4097 && read.data.back() == 7 && read.data[1 << 24] == 9));
    write_gz(dir.file("magic.gz"), {1, 2, 3, 4});
    CHECK_THROWS_WITH(load_idx(dir.file("magic.gz"), dir.file("labels.gz")), Catch::Contains("not an IDX file"));
    CHECK_THROWS_WITH(load_idx(dir.file("missing.gz"), dir.file("labels.gz")), Catch::Contains("cannot open"));
    CHECK_THROWS_WITH(load_fashion_mnist("validation"), Catch::Contains("unknown Fashion-MNIST split"));
}

TEST_CASE("a pretrained checkpoint loads for fine-tuning; a head for other classes starts afresh", "[train][fine_tune]") {
    ScratchDirectory dir;
    const Model<cpu> pretrained(tiny(), 1);
    pretrained.save(dir.file("pretrained.safetensors"));

    Model<cpu> same_head(tiny(), 2);
    CHECK(train::load_pretrained(same_head, dir.file("pretrained.safetensors")));
    CHECK(same(same_head.parameters(), pretrained.parameters()));

    Model<cpu> five_classes(architecture_by_name("fashion9", 5), 2);
    const Parameters fresh = five_classes.parameters();
    CHECK_FALSE(train::load_pretrained(five_classes, dir.file("pretrained.safetensors")));
    for (const auto& [key, value] : five_classes.parameters().tensors()) {
        INFO(key);
        CHECK(identical(value, key.rfind("fc.", 0) == 0 ? fresh.at(key) : pretrained.parameters().at(key)));
    }

    // Another architecture's body is refused, naming the tensor, and the model is left as it was.
    Model<cpu> other(architecture_by_name("fashion17"), 2);
    const Parameters before = other.parameters();
    CHECK_THROWS_WITH(train::load_pretrained(other, dir.file("pretrained.safetensors")),
                      Catch::Contains("pretrained.safetensors") && Catch::Contains("fashion17 needs"));
    CHECK(same(other.parameters(), before));
}

TEST_CASE("fine-tuning freezes all but the head, or all but the last stage", "[train][fine_tune]") {
    const Architecture arch = tiny();
    CHECK(train::frozen_for(arch, train::FineTune::all).empty());
    CHECK(train::frozen_for(arch, train::FineTune::head) == train::frozen_except(arch, {"fc."}));
    const auto last_stage = train::frozen_for(arch, train::parse_fine_tune("last-stage"));
    for (const auto& slot : parameter_slots(arch)) {
        INFO(slot.key);
        CHECK(last_stage.count(slot.key) == (slot.key.rfind("layer4.", 0) != 0 && slot.key.rfind("fc.", 0) != 0));
    }
    CHECK(train::parse_fine_tune("head") == train::FineTune::head);
    CHECK_THROWS_WITH(train::parse_fine_tune("stem"), Catch::Contains("unknown part to fine-tune 'stem'"));
}

TEST_CASE("the Fashion-MNIST data set holds its split normalised, with the class names", "[data][fashion_mnist]") {
    const data::FashionMnist test("test");
    const LabelledImages raw = load_fashion_mnist("test");
    REQUIRE(test.size() == 10000);
    CHECK(test.shape().channels == 1);
    CHECK(test.class_names() == fashion_mnist_class_names());
    CHECK(test.name(17) == "test 17");
    CHECK(test.label(17) == raw.labels[17]);
    std::vector<float> item(28 * 28);
    data::Random rng(0);
    test.load(17, rng, item.data());
    for (std::size_t p = 0; p < item.size(); ++p)
        REQUIRE(item[p] == Approx((raw.images.data()[17 * 784 + p] - 0.2860f) / 0.3530f).margin(1e-6));
    // The recipe's crops fill the border with the normalised background (a black pixel).
    CHECK(train::fashion_mnist_recipe().crop_fill == Approx(-0.2860f / 0.3530f));
    CHECK(train::fashion_mnist_architecture().name == "fashion9");
}
