// The `bagnet logits | classify | bench | correlate` commands: results equal to the PyTorch
// reference, and every kind of bad input refused with one line, a non-zero exit
// code and no output file.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <limits>

#include <xtensor/xview.hpp>

#include "bagnet/io/npy.hpp"
#include "cli_runner.hpp"

namespace {

using namespace bagnet::testing;

const std::string q9_dir = "infer_q9";

std::string logits_command(const std::string& weights, const std::string& input, const std::string& output,
                           const std::string& extra = "") {
    return "logits --arch bagnet9 --weights " + weights + " --input " + input + " --output " + output + " " + extra;
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
}

// A float32 npy file written byte by byte, for arrays the library refuses to write (NaN).
void write_raw_npy(const std::string& path, const bagnet::Tensor& values) {
    std::string shape;
    for (auto d : values.shape()) shape += std::to_string(d) + ", ";
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shape + "), }";
    header += std::string(63 - (10 + header.size()) % 64, ' ') + "\n";
    write_bytes(path, std::string("\x93NUMPY\x01\x00", 8) + char(header.size() & 0xff) + char(header.size() >> 8) +
                          header + std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4));
}

}  // namespace

TEST_CASE("bagnet logits writes the PyTorch model's logits and logit map", "[cli]") {
    ScratchDirectory dir;
    const std::string weights = fixture(q9_dir + "/weights.safetensors"), input = fixture(q9_dir + "/input.npy");
    REQUIRE(run_bagnet(logits_command(weights, input, dir.file("y.npy"))).exit_code == 0);
    REQUIRE(run_bagnet(logits_command(weights, input, dir.file("map.npy"), "--map --threads 1")).exit_code == 0);
    const auto close = [](const bagnet::Tensor& a, const bagnet::Tensor& b) {
        return a.shape() == b.shape() && double(xt::amax(xt::abs(a - b))()) < 1e-3 * double(xt::amax(xt::abs(b))());
    };
    CHECK(close(bagnet::io::load_npy_float(dir.file("y.npy")), bagnet::io::load_npy_float(fixture(q9_dir + "/logits.npy"))));
    CHECK(close(bagnet::io::load_npy_float(dir.file("map.npy")),
                bagnet::io::load_npy_float(fixture(q9_dir + "/logit_map.npy"))));
}

TEST_CASE("bagnet logits refuses bad input with one line and no output", "[cli][bad-input]") {
    ScratchDirectory dir;
    const std::string weights = fixture(q9_dir + "/weights.safetensors"), input = fixture(q9_dir + "/input.npy");
    const std::string out = dir.file("y.npy");
    auto refused = [&](const std::string& arguments, int code, const std::string& mentioning) {
        INFO(arguments);
        const auto result = run_bagnet(arguments);
        INFO("exit " << result.exit_code << ", stderr: " << result.err);
        CHECK(fails_cleanly(result, code, mentioning));
        CHECK_FALSE(std::filesystem::exists(out));
    };

    SECTION("files") {
        refused(logits_command(dir.file("missing.safetensors"), input, out), 1, "missing.safetensors");
        refused(logits_command(dir.file(""), input, out), 1, "directory");
        write_bytes(dir.file("garbage.safetensors"), "this is not a safetensors file at all");
        refused(logits_command(dir.file("garbage.safetensors"), input, out), 1, "garbage.safetensors");
        std::ifstream full(weights, std::ios::binary);
        std::string head(5000, '\0');
        full.read(head.data(), std::streamsize(head.size()));
        write_bytes(dir.file("truncated.safetensors"), head);
        refused(logits_command(dir.file("truncated.safetensors"), input, out), 1, "truncated.safetensors");
        refused(logits_command(weights, dir.file("missing.npy"), out), 1, "missing.npy");
        refused(logits_command(weights, input, dir.file("no/such/dir/y.npy")), 1, "y.npy");
    }
    SECTION("weights of another architecture") {
        refused("logits --arch bagnet33 --weights " + weights + " --input " + input + " --output " + out, 1,
                "layer3.0.conv2.weight");
        refused(logits_command(weights, input, out, "--classes 10"), 1, "fc.weight");
    }
    SECTION("options") {
        refused("logits --arch bagnet8 --weights " + weights + " --input " + input + " --output " + out, 2, "bagnet8");
        refused(logits_command(weights, input, out, "--precision fp16"), 2, "fp16");
        refused(logits_command(weights, input, out, "--threads 0"), 2, "--threads");
        refused(logits_command(weights, input, out, "--bogus"), 2, "--bogus");
        refused("logits --arch bagnet9 --weights " + weights + " --output " + out, 2, "--input");
        refused(logits_command(weights, input, out, "--device tpu"), 2, "tpu");
    }
    SECTION("arrays") {
        bagnet::Tensor4 x = bagnet::io::load_npy_float(input);
        auto save = [&](const std::string& name, const bagnet::Tensor& t) {
            bagnet::io::save_npy(dir.file(name), t);
            return dir.file(name);
        };
        refused(logits_command(weights, save("rank3.npy", xt::view(x, 0)), out), 1, "N x C x H x W");
        refused(logits_command(weights, save("grey.npy", xt::view(x, xt::all(), xt::range(0, 1))), out), 1, "channels");
        refused(logits_command(weights, save("small.npy", xt::view(x, xt::all(), xt::all(), xt::range(0, 8))), out), 1,
                "at least 9 x 9");
        bagnet::Tensor4 with_nan = x;
        with_nan(1, 2, 3, 4) = std::numeric_limits<float>::quiet_NaN();
        write_raw_npy(dir.file("nan.npy"), with_nan);
        refused(logits_command(weights, dir.file("nan.npy"), out), 1, "non-finite");
        refused(logits_command(weights, data_file("int64_2x2.npy"), out), 1, "float32");
    }
}

TEST_CASE("bagnet classify refuses impossible options", "[cli][bad-input]") {
    const std::string weights = fixture(q9_dir + "/weights.safetensors");
    CHECK(fails_cleanly(run_bagnet("classify --arch bagnet9 --weights " + weights + " --topk 1001 x.png"), 2, "--topk"));
    CHECK(fails_cleanly(run_bagnet("classify --arch bagnet9 --weights " + weights + " missing.png"), 1, "missing.png"));
    CHECK(fails_cleanly(run_bagnet("classify --arch bagnet9 --weights " + weights), 2, "image"));
    CHECK(fails_cleanly(run_bagnet("frobnicate"), 2, "frobnicate"));
}

TEST_CASE("bagnet correlate: per-image correlation of a BagNet's and a ResNet-50's logits", "[cli]") {
    ScratchDirectory dir;
    const std::string resnet = fixture("resnet50"), bagnet17 = fixture("train_sgd_q17") + "/weights.safetensors";
    const std::string data = " --input " + resnet + "/input.npy --labels " + resnet + "/labels.npy";
    // The training commands' old names for --input and --labels work for one more release, and say so.
    const std::string renamed = " --data-npy " + resnet + "/input.npy --labels-npy " + resnet + "/labels.npy";
    const std::string models = "correlate --arch bagnet17 --classes 10 --weights " + bagnet17 +
                               " --against-arch resnet50 --against-weights " + resnet + "/weights.safetensors";
    const auto result = run_bagnet(models + data + " --batch-size 1 --output " + dir.file("r.npy"));
    REQUIRE(result.exit_code == 0);
    const bagnet::Tensor r = bagnet::io::load_npy_float(dir.file("r.npy"));
    REQUIRE(r.size() == 2);
    for (float v : r) CHECK(std::abs(v) <= 1.f);
    char mean[16];
    std::snprintf(mean, sizeof mean, "mean %.4f", (double(r(0)) + double(r(1))) / 2);
    CHECK_THAT(result.out, Catch::Contains(mean) && Catch::Contains("bagnet17 and resnet50") &&
                               Catch::Contains("(2 images)"));
    const auto self = run_bagnet("correlate --arch resnet50 --classes 10 --weights " + resnet +
                                 "/weights.safetensors --against-arch resnet50 --against-weights " + resnet +
                                 "/weights.safetensors" + renamed);
    CHECK(self.exit_code == 0);
    CHECK_THAT(self.out, Catch::Contains("mean 1.0000"));
    CHECK_THAT(self.err, Catch::Contains("--data-npy is now --input") && Catch::Contains("--labels-npy is now --labels"));

    CHECK(fails_cleanly(run_bagnet("correlate --arch bagnet17 --classes 10 --weights " + bagnet17 +
                                   " --against-arch resnet51 --against-weights " + resnet + "/weights.safetensors" + data),
                        2, "resnet51"));
    CHECK(fails_cleanly(run_bagnet("correlate --arch bagnet17 --classes 10 --weights " + bagnet17 +
                                   " --against-arch resnet50 --against-weights " + dir.file("missing.safetensors") + data),
                        1, "missing.safetensors"));
}
