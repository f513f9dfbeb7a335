// The command line against a careless or hostile user: every command explains
// itself, impossible options and hyperparameters are refused before any work,
// outputs are checked before the work and published together, and no document
// is left half-written.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>

#include "bagnet/io/npy.hpp"
#include "cli_runner.hpp"
#include "cli_training_data.hpp"
#include "random_tensors.hpp"

namespace {

using namespace bagnet::testing;
namespace fs = std::filesystem;

}  // namespace

TEST_CASE("every command explains its options, with --help and with bagnet help", "[cli][help]") {
    for (const char* command : {"logits", "classify", "bench", "train", "evaluate", "saliency", "heatmap", "patches",
                                "explain", "attribute"}) {
        INFO(command);
        const auto help = run_bagnet(std::string(command) + " --help");
        CHECK(help.exit_code == 0);
        CHECK_THAT(help.out, Catch::Contains(std::string("Usage: bagnet ") + command));
        CHECK_THAT(help.out, Catch::Contains("--threads"));
        CHECK(run_bagnet(std::string("help ") + command).out == help.out);
    }
    CHECK_THAT(run_bagnet("train --help").out, Catch::Contains("--schedule") && Catch::Contains("--lr FLOAT=0.1"));
    CHECK(fails_cleanly(run_bagnet("help frobnicate"), 2, "frobnicate"));
    const auto overview = run_bagnet("--help");
    CHECK(overview.exit_code == 0);
    CHECK_THAT(overview.out, Catch::Contains("attribute") && Catch::Contains("Exit codes"));
}

TEST_CASE("impossible hyperparameters are refused before any work, with one line and no output", "[cli][bad-input]") {
    ScratchDirectory dir;
    const std::string data = small_data(dir), save = dir.file("w.safetensors");
    for (const char* bad : {"--lr inf", "--lr nan", "--lr -0.1", "--momentum nan", "--momentum 1",
                                   "--weight-decay nan", "--weight-decay -1", "--label-smoothing 1",
                                   "--label-smoothing nan", "--warmup -1", "--schedule step --gamma 0",
                                   "--schedule step --step-size 0", "--optimizer adamw --momentum 0.5",
                                   "--gamma 0.5", "--precision bf16", "--threads 1024", "--accumulate 5"}) {
        INFO(bad);
        const auto result = run_bagnet("train " + data + " --steps 1 --save " + save + " " + std::string(bad));
        INFO(result.err);
        CHECK(fails_cleanly(result, 2, ""));
        CHECK(result.out.empty());  // not even the recipe line: nothing was started
        CHECK_FALSE(fs::exists(save));
    }
}

TEST_CASE("outputs are checked before the work and published together", "[cli][bad-input]") {
    ScratchDirectory dir;
    const std::string data = small_data(dir), save = dir.file("w.safetensors");
    const auto missing_save = run_bagnet("train " + data + " --steps 1000000 --save " + dir.file("no/dir/w.safetensors"));
    CHECK(fails_cleanly(missing_save, 1, "no/dir"));
    CHECK(missing_save.out.empty());
    const auto missing_metrics = run_bagnet("train " + data + " --steps 1 --save " + save + " --metrics " +
                                            dir.file("no/m.json"));
    CHECK(fails_cleanly(missing_metrics, 1, "no/m.json"));
    CHECK_FALSE(fs::exists(save));
    const auto missing_checkpoint = run_bagnet("train " + data + " --steps 1 --save " + save + " --checkpoint " +
                                               dir.file("no/c.ckpt"));
    CHECK(fails_cleanly(missing_checkpoint, 1, "no/c.ckpt"));
    const auto into_folder = run_bagnet("train " + data + " --steps 1 --save " + dir.file(""));
    CHECK(fails_cleanly(into_folder, 1, "is a folder"));
    CHECK(fails_cleanly(run_bagnet("patches --arch bagnet9 --weights " + fixture("infer_q9/weights.safetensors") +
                                   " --input " + dir.file("x.npy") + " --class 1 --output-dir " + dir.file("x.npy/p")),
                        1, "x.npy is a file"));
    // Both outputs of a good run appear, and nothing else is left in the folder.
    const auto good = run_bagnet("train " + data + " --steps 1 --save " + save + " --metrics " + dir.file("m.json"));
    INFO(good.err);
    CHECK(good.exit_code == 0);
    CHECK(dir.entries() == std::vector<std::string>{"m.json", "w.safetensors", "x.npy", "y.npy"});
}

TEST_CASE("the learning rate is what --lr says unless --schedule says otherwise", "[cli][train]") {
    ScratchDirectory dir;
    const std::string data = small_data(dir), metrics = dir.file("m.json");
    const auto constant = run_bagnet("train " + data + " --steps 2 --lr 1e-6 --save " + dir.file("w.safetensors") +
                                     " --metrics " + metrics);
    INFO(constant.err);
    REQUIRE(constant.exit_code == 0);
    CHECK_THAT(constant.out, Catch::Contains("constant lr 1e-06") && Catch::Contains("2 steps"));
    CHECK_THAT(read_text(metrics), Catch::Contains("\"schedule\": \"constant lr 1e-06\""));
    const auto cosine = run_bagnet("train " + data + " --steps 4 --schedule cosine --warmup 1 --save " +
                                   dir.file("w.safetensors") + " --checkpoint " + dir.file("c.ckpt"));
    REQUIRE(cosine.exit_code == 0);
    CHECK_THAT(cosine.out, Catch::Contains("cosine lr 0.1 to 0 over 4 steps, 1 warm-up steps"));
    // A resume that would change the schedule is refused, with the way to keep it; a longer run keeps it.
    const std::string resume = "train " + data + " --save " + dir.file("r.safetensors") + " --resume " + dir.file("c.ckpt");
    CHECK(fails_cleanly(run_bagnet(resume + " --steps 4"), 1, "cannot resume"));
    CHECK(fails_cleanly(run_bagnet(resume + " --steps 6 --schedule cosine --warmup 1"), 1,
                        "over 4 steps, 1 warm-up steps', this one 'cosine lr 0.1 to 0 over 6 steps"));
    CHECK_THAT(run_bagnet(resume + " --steps 6 --schedule cosine --warmup 1").err,
               Catch::Contains("(give --cosine-steps with the recorded length)"));
    CHECK(fails_cleanly(run_bagnet(resume + " --steps 6 --cosine-steps 4"), 2, "--cosine-steps is for --schedule cosine"));
    CHECK(run_bagnet(resume + " --steps 4 --schedule cosine --warmup 1").exit_code == 0);
    const auto longer = run_bagnet(resume + " --steps 6 --schedule cosine --cosine-steps 4 --warmup 1");
    INFO(longer.err);
    CHECK(longer.exit_code == 0);
    const auto constant_run = run_bagnet("train " + data + " --steps 2 --save " + dir.file("w.safetensors") +
                                         " --checkpoint " + dir.file("k.ckpt"));
    REQUIRE(constant_run.exit_code == 0);
    CHECK(run_bagnet("train " + data + " --steps 5 --save " + dir.file("r.safetensors") + " --resume " +
                     dir.file("k.ckpt"))
              .exit_code == 0);
    CHECK_FALSE(fs::exists(dir.file("r.safetensors.tmp")));
}

TEST_CASE("classify writes its JSON document whole or not at all", "[cli][bad-input]") {
    ScratchDirectory dir;
    const std::string weights = fixture("infer_q9/weights.safetensors");
    const std::string good = "/usr/lib/python3/dist-packages/skimage/data/astronaut.png";
    std::ofstream(dir.file("bad.png")) << "not a png";
    const auto result = run_bagnet("classify --json --arch bagnet9 --weights " + weights + " " + good + " " +
                                   dir.file("bad.png"));
    CHECK(fails_cleanly(result, 1, "bad.png"));
    CHECK(result.out.empty());
    const auto alone = run_bagnet("classify --json --topk 2 --arch bagnet9 --weights " + weights + " " + good);
    CHECK(alone.exit_code == 0);
    CHECK_THAT(alone.out, Catch::StartsWith("[") && Catch::EndsWith("]\n") && Catch::Contains("\"probability\""));
}

TEST_CASE("hostile array and weight headers give one short line", "[cli][bad-input]") {
    ScratchDirectory dir;
    std::string shape = "(1";
    for (int i = 1; i < 100000; ++i) shape += ", 1";
    const std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + "), }\n";
    std::ofstream deep(dir.file("deep.npy"), std::ios::binary);
    deep << std::string("\x93NUMPY\x02\x00", 8);
    for (int i = 0; i < 4; ++i) deep << char((header.size() >> (8 * i)) & 0xff);
    deep << header << std::string(4, '\0');
    deep.close();
    const auto result = run_bagnet("logits --arch bagnet9 --weights " + fixture("infer_q9/weights.safetensors") +
                                   " --input " + dir.file("deep.npy") + " --output " + dir.file("y.npy"));
    CHECK(fails_cleanly(result, 1, "(100000 dimensions)"));
    CHECK(result.err.size() < 400);
    CHECK_FALSE(fs::exists(dir.file("y.npy")));
}
