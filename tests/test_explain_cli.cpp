// The explaining commands and teaching examples, run as a user runs them: results
// equal the library's (and the PyTorch reference's), bad input fails with one line,
// a non-zero exit code and no output file.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <filesystem>

#include <xtensor/xview.hpp>

#include "bagnet/io/image.hpp"
#include "bagnet/io/npy.hpp"
#include "cli_runner.hpp"

namespace {

using bagnet::testing::fails_cleanly;
using bagnet::testing::fixture;
using bagnet::testing::run_bagnet;

std::string model_q9() {
    return "--arch bagnet9 --classes 10 --threads 1 --weights " + fixture("heatmap_q9/weights.safetensors");
}

// A teaching example from the build, run in `dir`; its exit code.
int run_example(const std::string& name, const std::string& arguments, const bagnet::testing::ScratchDirectory& dir) {
    const std::string command = "cd " + dir.file("") + " && " + bagnet::testing::environment("BAGNET_BIN") + "/" + name +
                                " " + arguments + " >" + dir.file(name + ".out") + " 2>&1";
    const int status = std::system(command.c_str());
    INFO(bagnet::testing::read_text(dir.file(name + ".out")));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("bagnet heatmap --dense writes the per-patch reference map", "[cli][explain]") {
    bagnet::testing::ScratchDirectory dir;
    const std::string input = " --input " + fixture("heatmap_q9/input.npy");
    REQUIRE(run_bagnet("heatmap " + model_q9() + input + " --class 3 --dense --output " + dir.file("h.npy")).exit_code == 0);
    const bagnet::Tensor written = bagnet::io::load_npy_float(dir.file("h.npy"));
    const bagnet::Tensor reference = bagnet::io::load_npy_float(fixture("heatmap_q9/dense_heatmap.npy"));
    REQUIRE(written.shape() == std::vector<std::size_t>{19, 13});
    const bagnet::Tensor expected = xt::view(reference, 0, 3);
    CHECK(xt::amax(xt::abs(written - expected))() <= 1e-3 * xt::amax(xt::abs(expected))());

    // Without --dense: the coarse map; several classes: K x H x W.
    REQUIRE(run_bagnet("heatmap " + model_q9() + input + " --class 1,2 --output " + dir.file("c.npy")).exit_code == 0);
    CHECK(bagnet::io::load_npy_float(dir.file("c.npy")).shape() == std::vector<std::size_t>{2, 2, 1});

    REQUIRE(run_bagnet("heatmap " + model_q9() + input + " --top 2 --dense --output " + dir.file("h.png")).exit_code == 0);
    const bagnet::io::Image picture = bagnet::io::load_image(dir.file("h.png"));
    CHECK(picture.width > 2 * 13);
    CHECK(picture.height > 2 * 19);
}

TEST_CASE("bagnet heatmap, patches, explain refuse bad input with one line and no output", "[cli][explain][bad-input]") {
    bagnet::testing::ScratchDirectory dir;
    const std::string input = " --input " + fixture("heatmap_q9/input.npy");
    const std::string out = " --output " + dir.file("h.npy");
    CHECK(fails_cleanly(run_bagnet("heatmap " + model_q9() + input + " --class 10" + out), 1, "class 10 is out of range"));
    CHECK(fails_cleanly(run_bagnet("heatmap " + model_q9() + input + " --top 11" + out), 1, "top 11"));
    CHECK(fails_cleanly(run_bagnet("heatmap " + model_q9() + input + " --class 1 --top 1" + out), 2, "either --class"));
    CHECK(fails_cleanly(run_bagnet("heatmap " + model_q9() + input + " --class 1 --output " + dir.file("h.txt")), 2, ".npy or .png"));
    CHECK(fails_cleanly(run_bagnet("heatmap " + model_q9() + input + " --class 1 --output /nonexistent/h.npy"), 1, "/nonexistent"));

    bagnet::Tensor tiny = xt::zeros<float>({std::size_t(1), std::size_t(3), std::size_t(8), std::size_t(12)});
    bagnet::io::save_npy(dir.file("tiny.npy"), tiny);
    CHECK(fails_cleanly(run_bagnet("heatmap " + model_q9() + " --input " + dir.file("tiny.npy") + " --class 1" + out), 1, "8 x 12"));

    bagnet::Tensor none = xt::zeros<float>({std::size_t(0), std::size_t(3), std::size_t(9), std::size_t(9)});
    bagnet::io::save_npy(dir.file("none.npy"), none);
    CHECK(fails_cleanly(run_bagnet("patches " + model_q9() + " --input " + dir.file("none.npy") + " --class 1 --output-dir " +
                                   dir.file("")),
                        1, "empty"));
    CHECK(fails_cleanly(run_bagnet("explain " + model_q9() + input + " --output-dir " + dir.file("tiny.npy/r")), 1,
                        "tiny.npy is a file"));
    CHECK(dir.entries() == std::vector<std::string>{"none.npy", "tiny.npy"});
}

TEST_CASE("an output folder is made as mkdir -p makes it, and removed again when the command fails", "[cli][explain]") {
    bagnet::testing::ScratchDirectory dir;
    const std::string input = " --input " + fixture("heatmap_q9/input.npy");
    const auto made = run_bagnet("patches " + model_q9() + input + " --class 1 --top 2 --output-dir " +
                                 dir.file("new/p1"));
    INFO(made.err);
    CHECK(made.exit_code == 0);
    CHECK(std::filesystem::exists(dir.file("new/p1/patches_class1.json")));
    const auto explained = run_bagnet("explain " + model_q9() + input + " --images 0 --top 1 --patches 1 --output-dir " +
                                      dir.file("new/p1/report/"));
    INFO(explained.err);
    CHECK(explained.exit_code == 0);
    CHECK(std::filesystem::exists(dir.file("new/p1/report/report.json")));

    bagnet::Tensor none = xt::zeros<float>({std::size_t(0), std::size_t(3), std::size_t(9), std::size_t(9)});
    bagnet::io::save_npy(dir.file("none.npy"), none);
    CHECK(fails_cleanly(run_bagnet("patches " + model_q9() + " --input " + dir.file("none.npy") +
                                   " --class 1 --output-dir " + dir.file("gone/p2")),
                        1, "empty"));
    CHECK(fails_cleanly(run_bagnet("explain " + model_q9() + input + " --images 99 --output-dir " +
                                   dir.file("new/gone/r")),
                        1, "image 99 is not among"));
    // The folders the failed commands made are gone; the one that existed keeps its files.
    CHECK(dir.entries() == std::vector<std::string>{"new", "none.npy"});
    CHECK_FALSE(std::filesystem::exists(dir.file("new/gone")));
    CHECK(std::filesystem::exists(dir.file("new/p1/patches_class1.json")));
}

TEST_CASE("bagnet explain writes a self-contained report and JSON", "[cli][explain]") {
    bagnet::testing::ScratchDirectory dir;
    const auto result = run_bagnet("explain " + model_q9() + " --input " + fixture("heatmap_q9/input.npy") +
                                   " --label 4 --images 1 --top 2 --patches 3 --output-dir " + dir.file(""));
    REQUIRE(result.exit_code == 0);
    const std::string html = bagnet::testing::read_text(dir.file("report.html"));
    CHECK_THAT(html, Catch::Contains("data:image/png;base64,"));
    CHECK_THAT(html, Catch::Contains("true: <b>class 4</b>"));
    const auto report = nlohmann::json::parse(bagnet::testing::read_text(dir.file("report.json")));
    REQUIRE(report.size() == 1);
    CHECK(report[0]["true_label"] == 4);
    REQUIRE(report[0]["classes"].size() == 2);  // --top 2
    // --patches 3, but a 19 x 13 input has a 2 x 1 logit map: two patches to list.
    for (const auto& c : report[0]["classes"]) CHECK(c["top_patches"].size() == 2);
}

TEST_CASE("the teaching examples run", "[examples][explain]") {
    bagnet::testing::ScratchDirectory dir;
    CHECK(run_example("draw_heatmap", "", dir) == 0);
    CHECK(std::filesystem::exists(dir.file("heatmap.png")));
    CHECK(run_example("mine_patches", "'' patches 300", dir) == 0);
    CHECK(std::filesystem::exists(dir.file("patches.json")));
    CHECK(run_example("compare_attributions", "'' 2", dir) == 0);
    CHECK_THAT(bagnet::testing::read_text(dir.file("compare_attributions.out")), Catch::Contains("| exact evidence (BagNet) |"));
    CHECK(run_example("classify_image", "/usr/lib/python3/dist-packages/skimage/data/chelsea.png '' 9", dir) == 0);
    CHECK_THAT(bagnet::testing::read_text(dir.file("classify_image.out")), Catch::Contains("strongest patch"));
}
