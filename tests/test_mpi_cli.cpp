// The command line under `mpirun -np 2` (Open MPI): training follows PyTorch DDP, with
// --sync-batch-norm what one process computes; every analysis writes exactly what one
// process writes, whatever the data source; and a bad file that only one process
// reads stops them all with its one-line message and no output.
//
// Built only where the CLI links MPI and CMake found a launcher (BAGNET_TEST_MPIRUN).
#if BAGNET_TEST_MPIRUN
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "bagnet/bagnet.hpp"
#include "cli_runner.hpp"
#include "pytorch_updates.hpp"

using namespace bagnet;
using bagnet::testing::fails_cleanly;
using bagnet::testing::fixture;
using bagnet::testing::run_bagnet;
using bagnet::testing::run_bagnet_processes;
using bagnet::testing::ScratchDirectory;
using Catch::Matchers::Contains;

namespace {

std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in);
    std::stringstream bytes;
    bytes << in.rdbuf();
    return bytes.str();
}

// Every file a command wrote into `dir`, by name.
std::map<std::string, std::string> files_in(const std::string& dir) {
    std::map<std::string, std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
        files[entry.path().filename().string()] = read_bytes(entry.path().string());
    return files;
}

// How the first process of two reports progress: as one process would, or its own share.
enum class Progress { whole, shared };

// Runs `command OUT + file` on one process and on two, OUT a fresh folder each time, and
// returns both folders' files.
std::pair<std::map<std::string, std::string>, std::map<std::string, std::string>> one_and_two(
    const std::string& command, const ScratchDirectory& scratch, const std::string& name,
    const std::string& file = "", Progress progress = Progress::whole) {
    const std::string one = scratch.file(name + "1"), two = scratch.file(name + "2");
    std::filesystem::create_directories(one);
    std::filesystem::create_directories(two);
    const auto single = run_bagnet(command + one + file);
    INFO(single.err);
    REQUIRE(single.exit_code == 0);
    const auto shared = run_bagnet_processes(2, command + two + file);
    INFO(shared.err);
    REQUIRE(shared.exit_code == 0);
    if (progress == Progress::whole) CHECK(shared.err == single.err);  // progress from the first process only
    else CHECK_THAT(shared.err, Contains("(process 1's share, of 2 processes)\n"));
    return {files_in(one), files_in(two)};
}

// The attribution table without its last column (seconds per image, a timing).
std::string without_timings(const std::string& table) {
    std::stringstream in(table), out;
    for (std::string line; std::getline(in, line);) {
        const std::size_t last = line.rfind(" | ");
        out << (line.rfind("| ", 0) == 0 && last != std::string::npos ? line.substr(0, last) : line) << "\n";
    }
    return out.str();
}

}  // namespace

TEST_CASE("mpirun -np 2 bagnet train follows PyTorch DDP, and with --sync-batch-norm one process",
          "[mpi][cli][train][pytorch]") {
    const std::string dir = fixture("train_ddp_small9");
    const Architecture arch = architecture_by_name("small9", 0);
    ScratchDirectory scratch;
    const std::string common = "train --arch small9 --init " + dir + "/weights.safetensors --input " + dir +
                               "/input.npy --labels " + dir +
                               "/labels.npy --batch-size 16 --steps 2 --lr 0.01 --momentum 0.9 --weight-decay 1e-4 "
                               "--no-shuffle --no-augment --threads 1 --save ";
    auto result = run_bagnet_processes(2, common + scratch.file("ddp.safetensors"));
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK_THAT(result.out, Contains("on 2 processes"));
    const Parameters ddp = Parameters::load(arch, scratch.file("ddp.safetensors"));
    SECTION("per-process batch norm: PyTorch DDP's averaged gradients and process 0's running statistics") {
        bagnet::testing::check_updates_match(arch, dir, ddp);
    }
    SECTION("synchronised batch norm: what one process computes on the whole batch") {
        result = run_bagnet_processes(2, common + scratch.file("sync.safetensors") + " --sync-batch-norm");
        REQUIRE(result.exit_code == 0);
        REQUIRE(run_bagnet(common + scratch.file("one.safetensors")).exit_code == 0);
        const Parameters one = Parameters::load(arch, scratch.file("one.safetensors"));
        // Two float32 runs of the same steps, within the fixture's calibrated float32 spread...
        const auto tolerances = bagnet::testing::read_tolerances(dir + "/tolerance.json");
        const Parameters before = Parameters::load(arch, dir + "/weights.safetensors");
        bagnet::testing::check_updates_match(arch, before, Parameters::load(arch, scratch.file("sync.safetensors")),
                                             one, tolerances);
        // ...which per-process batch norm (8 images each) is far outside: the option acts.
        double total = 0, outside = 0;
        for (const auto& [key, tolerance] : tolerances) {
            const double error = bagnet::testing::norm_relative_error(Tensor(ddp.at(key) - before.at(key)),
                                                                      Tensor(one.at(key) - before.at(key)));
            outside += error > 10 * tolerance + 2e-3;
            ++total;
        }
        CHECK(outside > total / 2);
    }
    SECTION("the global batch must divide between the processes") {
        result = run_bagnet_processes(2, "train --arch small9 --input " + dir + "/input.npy --labels " + dir +
                                             "/labels.npy --batch-size 5 --steps 1 --save " + scratch.file("w.safetensors"));
        CHECK(fails_cleanly(result, 2, "--batch-size 5"));
        CHECK_FALSE(std::filesystem::exists(scratch.file("w.safetensors")));
    }
}

TEST_CASE("mpirun -np 2 analyses write what one process writes: a folder, Fashion-MNIST", "[mpi][cli][explain]") {
    ScratchDirectory scratch;
    const std::string weights = scratch.file("w.safetensors");
    Model<cpu>(architecture_by_name("bagnet9", 3), 2).save(weights);
    const std::string folder = "--arch bagnet9 --classes 3 --weights " + weights + " --data-dir " +
                               fixture("decoders/folder") + " --threads 1 ";
    const std::string fashion = "--arch fashion9 --weights " + bagnet::testing::environment("BAGNET_SOURCE_DIR") +
                                "/models/fashion_mnist_bagnet9.safetensors --dataset fashion-mnist --threads 1 ";
    SECTION("evaluate: loss and accuracy, batches of 5 over 12 images") {
        const auto [one, two] = one_and_two("evaluate " + folder + "--batch-size 5 --metrics ", scratch, "ev", "/m.json");
        CHECK_THAT(two.at("m.json"), Contains("\"images\": 12"));
        CHECK(one == two);
    }
    SECTION("patches: the top patches merged, ties broken as by one process") {
        const auto [one, two] = one_and_two("patches " + folder + "--class 1 --top 3 --output-dir ", scratch, "pa");
        CHECK(one.count("patches_class1.json") == 1);
        CHECK(one == two);
    }
    SECTION("explain: the mistakes found and explained") {
        const auto [one, two] = one_and_two(
            "explain " + fashion + "--limit 100 --mistakes --count 3 --top 2 --patches 2 --output-dir ", scratch, "ex");
        CHECK_THAT(one.at("report.json"), Contains("\"mistake\": true"));
        CHECK(one == two);
    }
    SECTION("heatmap: one figure per image, gathered in order") {
        const auto [one, two] = one_and_two("heatmap " + fashion + "--limit 5 --class 2 --output ", scratch, "hm", "/h.png");
        CHECK(one == two);
    }
    SECTION("heatmap --dense: the full-resolution maps") {
        const auto [one, two] =
            one_and_two("heatmap " + fashion + "--limit 3 --class 2 --dense --output ", scratch, "dense", "/h.png");
        CHECK(one == two);
    }
    SECTION("certify: the certificates of every batch, in order") {
        const auto [one, two] =
            one_and_two("certify " + fashion + "--limit 9 --batch 2 --patch 3 --threshold 0.2 --output ", scratch,
                        "ce", "/r.json", Progress::shared);
        CHECK_THAT(one.at("r.json"), Contains("\"images\": 9"));
        CHECK(one == two);
    }
    SECTION("attack-patch: the attack of every batch, in order") {
        const auto [one, two] = one_and_two("attack-patch " + fashion +
                                                "--limit 5 --batch 2 --patch 3 --stride 9 --steps 2 --output ",
                                            scratch, "ap", "/r.json", Progress::shared);
        CHECK_THAT(one.at("r.json"), Contains("\"images\": 5"));
        CHECK(one == two);
    }
    SECTION("attribute: the benchmark's table") {
        const auto [one, two] = one_and_two("attribute " + fashion + "--limit 4 --output ", scratch, "at", "/table.md");
        REQUIRE(one.size() == two.size());
        for (const auto& [name, bytes] : one) CHECK(without_timings(bytes) == without_timings(two.at(name)));
    }
}

TEST_CASE("a corrupt image that only process 1 reads stops both, with its message and no output",
          "[mpi][cli][bad-input]") {
    ScratchDirectory scratch;
    const std::string folder = scratch.file("folder");
    std::filesystem::copy(fixture("decoders/folder"), folder, std::filesystem::copy_options::recursive);
    // Sorted, cat/1.jpg is image 1: with batches of one, process 1's first.
    const std::string good = read_bytes(folder + "/cat/0.jpg");
    std::ofstream(folder + "/cat/1.jpg", std::ios::binary | std::ios::trunc) << good.substr(0, 300);
    const std::string weights = scratch.file("w.safetensors");
    Model<cpu>(architecture_by_name("bagnet9", 3), 2).save(weights);
    const auto result = run_bagnet_processes(2, "evaluate --arch bagnet9 --classes 3 --weights " + weights +
                                                    " --data-dir " + folder + " --size 32 --batch-size 1 --metrics " +
                                                    scratch.file("m.json"));
    CHECK(fails_cleanly(result, 1, "process 1 of 2: cannot decode image '" + folder + "/cat/1.jpg'"));
    CHECK_FALSE(std::filesystem::exists(scratch.file("m.json")));
}

TEST_CASE("a one-process command under mpirun stops, naming the commands that share their work",
          "[mpi][cli][bad-input]") {
    const auto result = run_bagnet_processes(2, "bench --arch fashion9 --size 28 --repeat 1");
    CHECK(fails_cleanly(result, 2,
                        "bench runs in one process; start it without mpirun (train, evaluate, correlate, heatmap, "
                        "patches, explain, attribute, certify and attack-patch share their work between processes)"));
}

#endif  // BAGNET_TEST_MPIRUN
