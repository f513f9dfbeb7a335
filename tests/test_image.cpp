// Images in, and the ImageNet class names their logits are read with.
// Decoding is checked against PIL on every PNG and JPEG layout (fixtures written
// by tests/reference/make_decoder_fixtures.py) and against the samples given to
// libpng's encoder, the resize against hand-derived values of PIL's filter and
// against torchvision's resized_crop, and the whole ImageNet preprocessing
// against torchvision's PIL pipeline on photos (tests/reference/make_image_fixture.py).
// Files that must be refused (not regular, truncated, bad checksums, too many
// pixels) are refused with one line naming the file, before any large allocation.
#include <bagnet/explain/picture.hpp>
#include <bagnet/io/image.hpp>
#include <bagnet/io/imagenet_classes.hpp>
#include <bagnet/io/npy.hpp>

#include <sys/stat.h>

#include "cli_runner.hpp"
#include "fixtures.hpp"
#include "test_files.hpp"

#include <xtensor/xmath.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace {

namespace fs = std::filesystem;
using bagnet::io::Image;
using bagnet::testing::ScratchDirectory;
using Catch::Matchers::Contains;

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
}

std::string write_png(const std::string& path, int height, int width, int channels,
                      const std::vector<std::uint8_t>& samples) {
    REQUIRE(samples.size() == static_cast<std::size_t>(height * width * channels));
    const std::vector<unsigned char> png = bagnet::io::encode_png(samples.data(), width, height, channels);
    write_bytes(path, std::string(png.begin(), png.end()));
    return path;
}

// An 8 x 16 grey JPEG written by PIL (quality 90): two flat 8 x 8 blocks, 40
// on the left and 200 on the right, so that only DC terms carry it and every
// decoder gives those values back exactly. (No JPEG encoder is
// needed: the fixtures' JPEGs cover the rest.)
std::string two_block_jpeg() {
    static const char bytes[] =
        "\xff\xd8\xff\xe0\x00\x10\x4a\x46\x49\x46\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xdb\x00\x43"
        "\x00\x03\x02\x02\x03\x02\x02\x03\x03\x03\x03\x04\x03\x03\x04\x05\x08\x05\x05\x04\x04\x05\x0a\x07"
        "\x07\x06\x08\x0c\x0a\x0c\x0c\x0b\x0a\x0b\x0b\x0d\x0e\x12\x10\x0d\x0e\x11\x0e\x0b\x0b\x10\x16\x10"
        "\x11\x13\x14\x15\x15\x15\x0c\x0f\x17\x18\x16\x14\x18\x12\x14\x15\x14\xff\xc0\x00\x0b\x08\x00\x08"
        "\x00\x10\x01\x01\x11\x00\xff\xc4\x00\x15\x00\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
        "\x00\x00\x00\x08\x09\xff\xc4\x00\x14\x10\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
        "\x00\x00\x00\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00\x0a\x2d\x5b\xff\xd9";
    return std::string(bytes, sizeof bytes - 1);
}

std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A single-channel image whose samples are the given 8-bit values.
Image grey_image(int height, int width, const std::vector<int>& values) {
    Image image{height, width, 1, {}};
    for (int value : values) image.pixels.push_back(static_cast<std::uint8_t>(value));
    return image;
}

std::vector<int> as_8bit(const Image& image) { return {image.pixels.begin(), image.pixels.end()}; }

// What `run` writes to stderr (file descriptor 2, so C stdio and the library alike).
template <class Run>
std::string stderr_of(const ScratchDirectory& scratch, Run&& run) {
    const std::string path = scratch.file("stderr.txt");
    std::fflush(stderr);
    const int saved = ::dup(2);
    const int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE((saved >= 0 && file >= 0));
    ::dup2(file, 2);
    ::close(file);
    auto restore = [&] {
        std::fflush(stderr);
        ::dup2(saved, 2);
        ::close(saved);
    };
    try {
        run();
    } catch (...) {
        restore();
        throw;
    }
    restore();
    return bagnet::testing::read_text(path);
}

// One-line messages that name the offending file.
void check_one_line_naming(const std::string& message, const std::string& path) {
    CHECK_THAT(message, Contains(path));
    CHECK(message.find('\n') == std::string::npos);
}

}  // namespace

TEST_CASE("load_image returns the file's 8-bit samples, HWC", "[image]") {
    ScratchDirectory scratch;

    SECTION("RGB keeps its channels in order") {
        const std::vector<std::uint8_t> samples{0, 1, 2, 10,  20,  30,  255, 128, 64,
                                                7, 8, 9, 100, 150, 200, 254, 253, 252};
        const std::string path = write_png(scratch.file("rgb.png"), 2, 3, 3, samples);
        const Image image = bagnet::io::load_image(path);
        CHECK(image.height == 2);
        CHECK(image.width == 3);
        CHECK(image.channels == 3);
        REQUIRE(image.pixels.size() == samples.size());
        CHECK(image.pixels == samples);
    }

    SECTION("grey stays one channel, or expands to RGB when asked") {
        const std::string path = write_png(scratch.file("grey.png"), 2, 2, 1, {0, 50, 200, 255});
        CHECK(bagnet::io::load_image(path).channels == 1);
        const Image rgb = bagnet::io::load_image(path, 3);
        REQUIRE(rgb.channels == 3);
        CHECK(as_8bit(rgb) == std::vector<int>{0, 0, 0, 50, 50, 50, 200, 200, 200, 255, 255, 255});
    }

    SECTION("RGBA drops alpha without compositing when RGB is asked") {
        const std::string path =
            write_png(scratch.file("rgba.png"), 1, 2, 4, {10, 20, 30, 0, 200, 100, 50, 128});
        CHECK(bagnet::io::load_image(path).channels == 4);
        CHECK(as_8bit(bagnet::io::load_image(path, 3)) == std::vector<int>{10, 20, 30, 200, 100, 50});
    }

    SECTION("JPEG decodes, grey expanding to RGB when asked") {
        const std::string path = scratch.file("two_blocks.jpg");
        write_bytes(path, two_block_jpeg());
        const Image grey = bagnet::io::load_image(path);
        REQUIRE(grey.channels == 1);
        REQUIRE(grey.height == 8);
        REQUIRE(grey.width == 16);
        CHECK(as_8bit(grey)[7] == 40);
        CHECK(as_8bit(grey)[8] == 200);
        CHECK(as_8bit(bagnet::io::load_image(path, 3))[3 * 8] == 200);
    }
}

TEST_CASE("load_image reports unreadable files in one line naming the file", "[image]") {
    ScratchDirectory scratch;
    const auto message_of = [](const std::string& path, int channels = 0) -> std::string {
        try {
            bagnet::io::load_image(path, channels);
        } catch (const bagnet::Error& error) {
            return error.what();
        }
        FAIL("no bagnet::Error for " << path);
        return {};
    };

    const std::string missing = scratch.file("missing.png");
    std::string message = message_of(missing);
    check_one_line_naming(message, missing);
    CHECK_THAT(message, Contains("No such file"));

    const std::string directory = scratch.file("directory.png");
    fs::create_directory(directory);
    message = message_of(directory);
    check_one_line_naming(message, directory);
    CHECK_THAT(message, Contains("directory"));

    const std::string empty = scratch.file("empty.png");
    write_bytes(empty, "");
    message = message_of(empty);
    check_one_line_naming(message, empty);
    CHECK_THAT(message, Contains("empty"));

    const std::string text = scratch.file("notes.png");
    write_bytes(text, "not an image at all");
    message = message_of(text);
    check_one_line_naming(message, text);
    CHECK_THAT(message, Contains("not a PNG or JPEG"));

    const std::string garbage = scratch.file("garbage.png");
    write_bytes(garbage, std::string("\x89PNG\r\n\x1a\n", 8) + std::string(64, '\x5a'));
    message = message_of(garbage);
    check_one_line_naming(message, garbage);
    CHECK_THAT(message, Contains("PNG"));

    std::vector<std::uint8_t> gradient(32 * 32 * 3);
    for (std::size_t i = 0; i < gradient.size(); ++i) gradient[i] = static_cast<std::uint8_t>(i * 7);
    const std::string whole = read_bytes(write_png(scratch.file("whole.png"), 32, 32, 3, gradient));
    const std::string truncated = scratch.file("truncated.png");
    write_bytes(truncated, whole.substr(0, whole.size() / 2));
    message = message_of(truncated);
    check_one_line_naming(message, truncated);
    CHECK_THAT(message, Contains("PNG"));

    const std::string jpeg = scratch.file("truncated.jpg");
    write_bytes(jpeg, two_block_jpeg().substr(0, 100));
    message = message_of(jpeg);
    check_one_line_naming(message, jpeg);
    CHECK_THAT(message, Contains("JPEG"));

    message = message_of(scratch.file("whole.png"), 5);
    CHECK_THAT(message, Contains("channels"));
}

TEST_CASE("resize_bilinear reproduces PIL's antialiased bilinear filter", "[image]") {
    // Weights from PIL's definition (Resample.c): output x has centre
    // c = (x + 0.5) * in / out, the triangle 1 - |d| is stretched by
    // max(in / out, 1), input i sits at i + 0.5, and weights are normalised.
    SECTION("downscale 4 -> 2: centres 1 and 3, triangle of radius 2") {
        // x = 0 reads inputs 0..2 with weights .75, .75, .25 (/1.75): 255 * .75 / 1.75 = 109.3
        // x = 1 reads inputs 1..3 with weights .25, .75, .75: 255 * 1 / 1.75 = 145.7
        const Image resized = bagnet::io::resize_bilinear(grey_image(1, 4, {0, 255, 0, 255}), 1, 2);
        CHECK(as_8bit(resized) == std::vector<int>{109, 146});
    }
    SECTION("upscale 2 -> 4: centres .25, .75, 1.25, 1.75, triangle of radius 1") {
        // 0; .75 * 0 + .25 * 255 = 63.75; .25 * 0 + .75 * 255 = 191.25; 255
        const Image resized = bagnet::io::resize_bilinear(grey_image(1, 2, {0, 255}), 1, 4);
        CHECK(as_8bit(resized) == std::vector<int>{0, 64, 191, 255});
    }
    SECTION("both axes, rounded to 8 bits after each pass") {
        // Horizontal 2 -> 3: weights (1), (.5/.5 split over both, centre 1), (1):
        // rows [0 128 255] and [255 128 0] (127.5 rounds up); vertical likewise.
        const Image resized = bagnet::io::resize_bilinear(grey_image(2, 2, {0, 255, 255, 0}), 3, 3);
        CHECK(as_8bit(resized) == std::vector<int>{0, 128, 255, 128, 128, 128, 255, 128, 0});
    }
    SECTION("a flat image stays flat at any size") {
        const Image flat = grey_image(7, 5, std::vector<int>(35, 37));
        for (auto [height, width] : {std::pair{3, 11}, std::pair{1, 1}, std::pair{20, 2}}) {
            const Image resized = bagnet::io::resize_bilinear(flat, height, width);
            CHECK(resized.height == height);
            CHECK(resized.width == width);
            CHECK(as_8bit(resized) == std::vector<int>(static_cast<std::size_t>(height * width), 37));
        }
    }
    SECTION("bad sizes are errors") {
        CHECK_THROWS_AS(bagnet::io::resize_bilinear(grey_image(1, 2, {0, 255}), 0, 4), bagnet::Error);
        CHECK_THROWS_AS(bagnet::io::resize_bilinear(Image{2, 2, 1, {128}}, 4, 4), bagnet::Error);
    }
}

TEST_CASE("resize_shorter_side sizes the output as torchvision's Resize(int)", "[image]") {
    // The shorter side becomes the size, the longer int(size * long / short).
    const auto resized_size = [](int height, int width, int size) {
        const Image resized = bagnet::io::resize_shorter_side(
            grey_image(height, width, std::vector<int>(height * width, 9)), size);
        return std::pair{resized.height, resized.width};
    };
    CHECK(resized_size(300, 451, 256) == std::pair{256, 384});  // 384.85
    CHECK(resized_size(451, 300, 256) == std::pair{384, 256});
    CHECK(resized_size(427, 640, 256) == std::pair{256, 383});  // 383.7
    CHECK(resized_size(172, 448, 256) == std::pair{256, 666});  // upscale, 666.8
    CHECK(resized_size(10, 10, 3) == std::pair{3, 3});

    // An image already that size is returned as it is.
    const Image exact{256, 300, 1, std::vector<std::uint8_t>(256 * 300, 31)};
    CHECK(bagnet::io::resize_shorter_side(exact, 256).pixels == exact.pixels);
    CHECK_THROWS_AS(bagnet::io::resize_shorter_side(exact, 0), bagnet::Error);
}

TEST_CASE("center_crop offsets round halves to even, as Python's round()", "[image]") {
    // Each sample holds its column (or row) index, so the crop's first sample is its offset.
    const auto left_offset = [](int width, int crop) {
        Image image{1, width, 1, {}};
        for (int x = 0; x < width; ++x) image.pixels.push_back(static_cast<std::uint8_t>(x));
        const Image cropped = bagnet::io::center_crop(image, 1, crop);
        REQUIRE(cropped.width == crop);
        return static_cast<int>(cropped.pixels.front());
    };
    CHECK(left_offset(224, 224) == 0);
    CHECK(left_offset(229, 224) == 2);  // round(2.5) = 2
    CHECK(left_offset(230, 224) == 3);
    CHECK(left_offset(231, 224) == 4);   // round(3.5) = 4
    CHECK(left_offset(293, 224) == 34);  // round(34.5) = 34: hubble_deep_field.jpg
    CHECK(left_offset(383, 224) == 80);  // round(79.5) = 80: rocket.jpg

    Image tall{7, 1, 2, {}};
    for (int y = 0; y < 7; ++y) tall.pixels.insert(tall.pixels.end(), {static_cast<std::uint8_t>(y), 250});
    const Image cropped = bagnet::io::center_crop(tall, 2, 1);
    CHECK(cropped.pixels == std::vector<std::uint8_t>{2, 250, 3, 250});  // round(2.5) = 2

    CHECK_THROWS_WITH(bagnet::io::center_crop(tall, 8, 1), Contains("7x1x2"));
}

TEST_CASE("normalize_to_chw moves channels first and normalises each", "[image]") {
    const Image image{1, 2, 3, {0, 51, 255, 102, 204, 17}};
    const bagnet::Tensor tensor =
        bagnet::io::normalize_to_chw(image, {0.5f, 0.25f, 0.0f}, {0.5f, 0.25f, 2.0f});
    REQUIRE(tensor.shape() == bagnet::Tensor::shape_type{1, 3, 1, 2});
    CHECK(tensor(0, 0, 0, 0) == -1.0f);                                // (0 - .5) / .5
    CHECK(tensor(0, 0, 0, 1) == Approx((0.4 - 0.5) / 0.5));            // 102 / 255 = .4
    CHECK(tensor(0, 1, 0, 0) == Approx((0.2 - 0.25) / 0.25));          // 51 / 255 = .2
    CHECK(tensor(0, 1, 0, 1) == Approx((0.8 - 0.25) / 0.25));          // 204 / 255 = .8
    CHECK(tensor(0, 2, 0, 0) == 0.5f);                                 // 1 / 2
    CHECK(tensor(0, 2, 0, 1) == Approx(17.0 / 255 / 2));
    CHECK_THROWS_AS(bagnet::io::normalize_to_chw(image, {0.5f}, {0.5f}), bagnet::Error);
    CHECK_THROWS_AS(bagnet::io::normalize_to_chw(image, {0, 0, 0}, {1, 0, 1}), bagnet::Error);
}

TEST_CASE("imagenet_preprocess agrees with torchvision's PIL pipeline on photos", "[image][fixture]") {
    const fs::path photo_dir = "/usr/lib/python3/dist-packages/skimage/data";

    // The decoders are PIL's (libpng, libjpeg-turbo with PIL's settings) and the
    // resize is PIL's own arithmetic, so every photo matches exactly.
    const std::string photo = GENERATE(as<std::string>{}, "astronaut.png", "chelsea.png", "camera.png",
                                       "text.png", "logo.png", "rocket.jpg", "hubble_deep_field.jpg");
    const std::string fixture = bagnet::testing::fixture("image_" + fs::path(photo).stem().string() + ".npy");
    INFO("photo " << (photo_dir / photo).string() << ", fixture " << fixture);
    REQUIRE(fs::exists(fixture));
    const bagnet::Tensor expected = bagnet::io::load_npy_float(fixture);
    const bagnet::Tensor actual = bagnet::io::imagenet_preprocess((photo_dir / photo).string());
    REQUIRE(actual.shape() == expected.shape());

    const double mean_difference = xt::mean(xt::abs(actual - expected))();
    const double max_difference = xt::amax(xt::abs(actual - expected))();
    INFO(photo << ": mean |C++ - torchvision| = " << mean_difference << " (max " << max_difference
               << ") in normalised units");
    CHECK(max_difference <= 1e-6);
}

TEST_CASE("imagenet_class_name gives the category of each of the 1000 logits", "[image][imagenet_classes]") {
    // Spot checks against the canonical ImageNet-1k (ILSVRC 2012) index order.
    CHECK(bagnet::io::imagenet_class_name(0) == "tench");
    CHECK(bagnet::io::imagenet_class_name(1) == "goldfish");
    CHECK(bagnet::io::imagenet_class_name(207) == "golden retriever");
    CHECK(bagnet::io::imagenet_class_name(281) == "tabby");
    CHECK(bagnet::io::imagenet_class_name(817) == "sports car");
    CHECK(bagnet::io::imagenet_class_name(999) == "toilet tissue");

    const auto& names = bagnet::io::imagenet_class_names();
    CHECK(names.size() == 1000);
    std::set<std::string_view> distinct;
    for (const char* name : names) {
        REQUIRE(name != nullptr);
        CHECK(std::string_view(name).size() > 0);
        distinct.insert(name);
    }
    CHECK(distinct.size() == 1000);

    CHECK_THROWS_WITH(bagnet::io::imagenet_class_name(1000), Contains("1000") && Contains("out of range"));
    CHECK_THROWS_AS(bagnet::io::imagenet_class_name(-1), bagnet::Error);
}

TEST_CASE("bagnet train --data-dir stops on a corrupt image unless --skip-corrupt, writing nothing",
          "[image][image_folder][cli]") {
    ScratchDirectory scratch;
    const fs::path root = scratch.file("data");
    for (const char* name : {"a", "b"}) fs::create_directories(root / name);
    write_png((root / "a" / "one.png").string(), 16, 16, 3, std::vector<std::uint8_t>(16 * 16 * 3, 100));
    write_png((root / "b" / "two.png").string(), 16, 16, 3, std::vector<std::uint8_t>(16 * 16 * 3, 200));
    const std::string broken = (root / "b" / "three.png").string();
    write_bytes(broken, "not an image at all");
    const std::string save = scratch.file("out.safetensors");
    const std::string command = "train --arch bagnet9 --classes 2 --data-dir " + root.string() +
                                " --size 16 --batch-size 2 --steps 1 --threads 1 --save " + save;
    const auto failed = bagnet::testing::run_bagnet(command);
    CHECK(bagnet::testing::fails_cleanly(failed, 1, broken));
    CHECK_THAT(failed.err, Contains("--skip-corrupt"));
    CHECK_FALSE(fs::exists(save));
}

namespace {

std::string decoder_fixture(const std::string& name) { return bagnet::testing::fixture("decoders/" + name); }

// An H x W x 3 array of 8-bit values saved as float32 by the fixture script.
std::vector<std::uint8_t> expected_samples(const std::string& npy, int height, int width) {
    const bagnet::Tensor expected = bagnet::io::load_npy_float(npy);
    REQUIRE(expected.shape() == bagnet::Tensor::shape_type{std::size_t(height), std::size_t(width), 3});
    return {expected.begin(), expected.end()};
}

std::string error_of(const std::string& path, const bagnet::io::DecodeOptions& options = {}) {
    try {
        bagnet::io::load_image(path, 3, options);
    } catch (const bagnet::Error& error) {
        return error.what();
    }
    FAIL("no bagnet::Error for " << path);
    return {};
}

}  // namespace

TEST_CASE("every PNG and JPEG layout decodes to PIL's convert(\"RGB\") exactly", "[image][fixture][decoders]") {
    // 16-bit grey is the one exception: PIL clips it to 255, bagnet keeps the high
    // byte as PIL does for 16-bit colour (the fixture holds those high bytes).
    const std::string name =
        GENERATE(as<std::string>{}, "grey.png", "grey1.png", "grey16.png", "grey16_plain.png", "grey_alpha.png",
                 "rgb.png", "rgba.png", "rgb16.png", "palette.png", "palette4.png", "palette_transparent.png",
                 "interlaced_rgb.png", "interlaced_grey_alpha.png", "bad_icc.png", "baseline.jpg", "baseline_444.jpg",
                 "progressive.jpg", "grey_jpeg.jpg", "cmyk.jpg");
    const std::string path = decoder_fixture(name);
    INFO(path);
    REQUIRE(fs::exists(path));
    const Image image = bagnet::io::load_image(path, 3);
    CHECK(image.channels == 3);
    CHECK(image.pixels ==
          expected_samples(decoder_fixture(fs::path(name).stem().string() + ".npy"), image.height, image.width));
}

TEST_CASE("load_image keeps the file's layout when asked for none", "[image][fixture][decoders]") {
    CHECK(bagnet::io::load_image(decoder_fixture("grey.png")).channels == 1);
    CHECK(bagnet::io::load_image(decoder_fixture("grey_alpha.png")).channels == 2);
    CHECK(bagnet::io::load_image(decoder_fixture("palette.png")).channels == 3);
    CHECK(bagnet::io::load_image(decoder_fixture("palette_transparent.png")).channels == 4);
    CHECK(bagnet::io::load_image(decoder_fixture("grey_jpeg.jpg")).channels == 1);
    CHECK(bagnet::io::load_image(decoder_fixture("cmyk.jpg")).channels == 3);
    // Colour to grey is PIL's convert("L"): (19595 R + 38470 G + 7471 B + 2^15) >> 16.
    const Image rgb = bagnet::io::load_image(decoder_fixture("rgb.png"), 3);
    const Image grey = bagnet::io::load_image(decoder_fixture("rgb.png"), 1);
    REQUIRE(grey.pixels.size() * 3 == rgb.pixels.size());
    for (std::size_t i = 0; i < grey.pixels.size(); i += 97)
        CHECK(int(grey.pixels[i]) ==
              (19595 * rgb.pixels[3 * i] + 38470 * rgb.pixels[3 * i + 1] + 7471 * rgb.pixels[3 * i + 2] + 32768) >> 16);
}

TEST_CASE("damaged and oversized images are refused with one line naming the file", "[image][fixture][decoders]") {
    ScratchDirectory scratch;
    SECTION("a wrong chunk CRC, a wrong zlib checksum, or both") {
        for (const char* name : {"bad_crc.png", "bad_adler.png", "bad_crc_and_adler.png"}) {
            const std::string message = error_of(decoder_fixture(name));
            check_one_line_naming(message, decoder_fixture(name));
            CHECK_THAT(message, Contains("PNG"));
        }
        CHECK_THAT(error_of(decoder_fixture("bad_crc.png")), Contains("CRC"));
        CHECK_THAT(error_of(decoder_fixture("bad_adler.png")), Contains("incorrect data check"));
    }
    SECTION("a header of 20,000 x 20,000 pixels, before they are allocated") {
        for (const char* name : {"bomb.png", "bomb.jpg"}) {
            const std::string message = error_of(decoder_fixture(name));
            check_one_line_naming(message, decoder_fixture(name));
            CHECK_THAT(message, Contains("400000000 pixels exceeds the limit of 178956970") &&
                                    Contains("DecodeOptions::max_pixels"));
        }
        // The limit is the caller's: a photo of 53 x 37 pixels passes 2000 and fails 1000.
        const std::string photo = decoder_fixture("baseline.jpg");
        CHECK_NOTHROW(bagnet::io::load_image(photo, 3, bagnet::io::DecodeOptions().with_max_pixels(2000)));
        CHECK_THAT(error_of(photo, bagnet::io::DecodeOptions().with_max_pixels(1000)), Contains("limit of 1000"));
    }
    SECTION("truncated anywhere") {
        for (const char* name : {"rgb.png", "interlaced_rgb.png", "baseline.jpg", "progressive.jpg"}) {
            const std::string whole = read_bytes(decoder_fixture(name));
            for (const double fraction : {0.3, 0.9}) {
                const std::string cut = scratch.file("cut_" + std::to_string(int(fraction * 10)) + "_" + name);
                write_bytes(cut, whole.substr(0, std::size_t(double(whole.size()) * fraction)));
                INFO(cut);
                const std::string message = error_of(cut);
                check_one_line_naming(message, cut);
                CHECK_THAT(message, Contains("truncated") || Contains("corrupt"));
            }
        }
    }
    SECTION("devices, pipes and files larger than any image of the limit, before they are read") {
        const std::string zero = error_of("/dev/zero");
        check_one_line_naming(zero, "/dev/zero");
        CHECK_THAT(zero, Contains("not a regular file"));
        const std::string fifo = scratch.file("pipe.png");
        REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
        CHECK_THAT(error_of(fifo), Contains("not a regular file"));  // and no wait for a writer
        const std::string big = scratch.file("big.jpg");
        write_bytes(big, two_block_jpeg());
        fs::resize_file(big, (std::uintmax_t(16) << 20) + 81);  // sparse: 16 MiB of metadata allowance + 8 x 10
        const std::string message = error_of(big, bagnet::io::DecodeOptions().with_max_pixels(10));
        check_one_line_naming(message, big);
        CHECK_THAT(message, Contains("bytes, more than any image of 10 pixels"));
    }
}

TEST_CASE("pictures are written as PNG that decodes to the same pixels", "[image][picture]") {
    bagnet::Picture picture(7, 5, bagnet::Rgb{10, 20, 30});
    picture.fill(2, 1, 3, 2, bagnet::Rgb{200, 100, 50});
    ScratchDirectory scratch;
    const std::string path = scratch.file("p.png");
    picture.save_png(path);
    const Image decoded = bagnet::io::load_image(path);
    REQUIRE((decoded.height == 5 && decoded.width == 7 && decoded.channels == 3));
    for (int y = 0; y < 5; ++y)
        for (int x = 0; x < 7; ++x) {
            const bagnet::Rgb& expected = picture.at(x, y);
            CHECK(std::vector<int>{decoded.at(y, x, 0), decoded.at(y, x, 1), decoded.at(y, x, 2)} ==
                  std::vector<int>{expected.r, expected.g, expected.b});
        }
}

TEST_CASE("crop + resize_bilinear is torchvision's resized_crop on PIL images", "[image][fixture]") {
    // The boxes of tests/reference/make_decoder_fixtures.py, inside chelsea.png (300 x 451).
    const int boxes[][4] = {{10, 20, 60, 80}, {0, 0, 300, 451}, {100, 300, 150, 37}, {37, 1, 29, 450}, {200, 250, 100, 100}};
    const Image photo = bagnet::io::load_image("/usr/lib/python3/dist-packages/skimage/data/chelsea.png", 3);
    for (std::size_t b = 0; b < std::size(boxes); ++b) {
        INFO("box " << b);
        const auto& box = boxes[b];
        const Image resized = bagnet::io::resize_bilinear(bagnet::io::crop(photo, box[0], box[1], box[2], box[3]), 224, 224);
        CHECK(resized.pixels == expected_samples(decoder_fixture("resized_crop_" + std::to_string(b) + ".npy"), 224, 224));
    }
}
