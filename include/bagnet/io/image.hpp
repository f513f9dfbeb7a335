#pragma once
// Images in: decoding PNG/JPEG files, the resize and crop of torchvision's
// ImageNet pipeline (reproduced exactly, not approximately), and normalisation
// into the N x C x H x W tensors the models take.
//
// Decoding uses stb_image. This library is header-only, so it cannot ask users
// to compile stb's implementation in "exactly one .cpp": every translation unit
// that includes this header compiles its own private (static) copy instead,
// restricted to PNG and JPEG to keep that cheap. Nothing is exported, so it
// cannot clash at link time with an stb_image the program links itself. A
// translation unit that already included stb_image.h would turn that copy into
// exported definitions, so that is refused at compile time; a program with its
// own stb_image implementation defines BAGNET_EXTERNAL_STB_IMAGE and links it.
#include <bagnet/error.hpp>
#include <bagnet/tensor.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#ifndef BAGNET_EXTERNAL_STB_IMAGE
#ifdef STBI_INCLUDE_STB_IMAGE_H
#error "include bagnet/io/image.hpp before stb_image.h, or define BAGNET_EXTERNAL_STB_IMAGE (see image.hpp)"
#endif
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO  // files are read by load_image, which reports errno
#endif

#include "bagnet/io/detail/stb_warnings_begin.hpp"
#include <stb/stb_image.h>
#include "bagnet/io/detail/stb_warnings_end.hpp"

#ifndef BAGNET_EXTERNAL_STB_IMAGE
#undef STB_IMAGE_IMPLEMENTATION
#endif

namespace bagnet::io {

// A decoded picture: height x width x channels samples, row-major (HWC),
// each in [0, 1] (the file's 8-bit value / 255).
struct Image {
    int height = 0;
    int width = 0;
    int channels = 0;
    std::vector<float> pixels;
};

// The per-channel statistics the published ImageNet models were trained with.
inline const std::vector<float> imagenet_mean{0.485f, 0.456f, 0.406f};
inline const std::vector<float> imagenet_stddev{0.229f, 0.224f, 0.225f};

namespace detail {

inline std::string image_size_string(const Image& image) {
    return std::to_string(image.height) + "x" + std::to_string(image.width) + "x" +
           std::to_string(image.channels);
}

inline std::vector<unsigned char> read_image_file(const std::string& path) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!file) throw Error("cannot open image '" + path + "': " + std::strerror(errno));
    std::vector<unsigned char> bytes;
    std::array<unsigned char, 1 << 16> chunk;
    // Reading in chunks rather than asking for the size first also gives a
    // directory its own error (EISDIR comes from the first read, not the open).
    for (;;) {
        const std::size_t count = std::fread(chunk.data(), 1, chunk.size(), file.get());
        bytes.insert(bytes.end(), chunk.data(), chunk.data() + count);
        if (count < chunk.size()) break;
    }
    if (std::ferror(file.get())) throw Error("cannot read image '" + path + "': " + std::strerror(errno));
    require(!bytes.empty(), "cannot decode image '" + path + "': the file is empty");
    require(bytes.size() <= static_cast<std::size_t>(INT_MAX),
            "cannot decode image '" + path + "': the file is larger than 2 GiB");
    return bytes;
}

// "PNG" or "JPEG" from the file's signature, null for anything else.
inline const char* image_format(const std::vector<unsigned char>& bytes) {
    static constexpr unsigned char png_signature[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (bytes.size() >= sizeof png_signature &&
        std::equal(std::begin(png_signature), std::end(png_signature), bytes.begin()))
        return "PNG";
    if (bytes.size() >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff) return "JPEG";
    return nullptr;
}

// Samples are 8-bit in PIL, and its resampler rounds to 8 bits after each pass;
// matching torchvision exactly means working on those same integers.
inline std::uint8_t to_8bit(float value) {
    return static_cast<std::uint8_t>(std::lround(std::clamp(value, 0.0f, 1.0f) * 255.0f));
}

// PIL's fixed-point weights carry 22 fractional bits (PRECISION_BITS = 32 - 8 - 2).
constexpr int resample_fraction_bits = 22;

// For each output sample along one axis: the first input sample it reads, how
// many, and their fixed-point weights (taps_per_output per sample, zero-padded).
struct ResampleKernel {
    int taps_per_output = 0;
    std::vector<int> first;
    std::vector<int> count;
    std::vector<std::int32_t> weights;
};

// PIL's antialiased bilinear filter (Resample.c, precompute_coeffs): a triangle
// of radius 1 in output samples, i.e. stretched by the downscale factor so that
// every input sample contributes. The float arithmetic follows PIL's operation
// by operation, so the rounded weights are identical.
inline ResampleKernel bilinear_kernel(int input_size, int output_size) {
    const double scale = static_cast<double>(input_size) / output_size;
    const double filter_scale = std::max(scale, 1.0);
    const double support = 1.0 * filter_scale;
    const double inverse_filter_scale = 1.0 / filter_scale;
    ResampleKernel kernel;
    kernel.taps_per_output = static_cast<int>(std::ceil(support)) * 2 + 1;
    kernel.first.resize(static_cast<std::size_t>(output_size));
    kernel.count.resize(static_cast<std::size_t>(output_size));
    kernel.weights.assign(static_cast<std::size_t>(output_size) * kernel.taps_per_output, 0);
    std::vector<double> taps(static_cast<std::size_t>(kernel.taps_per_output));
    for (int out = 0; out < output_size; ++out) {
        const double center = (out + 0.5) * scale;
        // Truncation, not floor, as in PIL (the difference is clamped away).
        const int first = std::max(0, static_cast<int>(center - support + 0.5));
        const int end = std::min(input_size, static_cast<int>(center + support + 0.5));
        const int count = end - first;
        double total = 0.0;
        for (int i = 0; i < count; ++i) {
            const double distance = std::abs((i + first - center + 0.5) * inverse_filter_scale);
            taps[static_cast<std::size_t>(i)] = distance < 1.0 ? 1.0 - distance : 0.0;
            total += taps[static_cast<std::size_t>(i)];
        }
        std::int32_t* weights = &kernel.weights[static_cast<std::size_t>(out) * kernel.taps_per_output];
        for (int i = 0; i < count; ++i) {
            const double normalised = total != 0.0 ? taps[static_cast<std::size_t>(i)] / total : 0.0;
            weights[i] = static_cast<std::int32_t>(0.5 + normalised * (1 << resample_fraction_bits));
        }
        kernel.first[static_cast<std::size_t>(out)] = first;
        kernel.count[static_cast<std::size_t>(out)] = count;
    }
    return kernel;
}

// One separable pass over 8-bit samples laid out as outer x axis x inner
// (inner = channels for the horizontal pass, width x channels for the vertical).
inline std::vector<std::uint8_t> resample_axis(const std::vector<std::uint8_t>& input, int outer,
                                               int input_size, int output_size, int inner) {
    const ResampleKernel kernel = bilinear_kernel(input_size, output_size);
    std::vector<std::uint8_t> output(static_cast<std::size_t>(outer) * output_size * inner);
    for (int o = 0; o < outer; ++o) {
        const std::uint8_t* in_plane = &input[static_cast<std::size_t>(o) * input_size * inner];
        std::uint8_t* out_plane = &output[static_cast<std::size_t>(o) * output_size * inner];
        for (int out = 0; out < output_size; ++out) {
            const std::int32_t* weights =
                &kernel.weights[static_cast<std::size_t>(out) * kernel.taps_per_output];
            const int first = kernel.first[static_cast<std::size_t>(out)];
            const int count = kernel.count[static_cast<std::size_t>(out)];
            for (int j = 0; j < inner; ++j) {
                std::int32_t sum = 1 << (resample_fraction_bits - 1);  // rounds half up
                for (int i = 0; i < count; ++i)
                    sum += in_plane[static_cast<std::size_t>(first + i) * inner + j] * weights[i];
                out_plane[static_cast<std::size_t>(out) * inner + j] =
                    static_cast<std::uint8_t>(std::clamp(sum >> resample_fraction_bits, 0, 255));
            }
        }
    }
    return output;
}

// Python's round() of diff / 2.0, which rounds halves to even: torchvision's
// centre-crop offset.
inline int centre_offset(int difference) {
    const int half = difference / 2;
    return (difference % 2 == 1 && half % 2 == 1) ? half + 1 : half;
}

}  // namespace detail

// Decodes a PNG or JPEG file. channels = 0 keeps the file's channels; 1, 2, 3
// or 4 converts (grey expands to RGB, RGBA drops alpha without compositing,
// as PIL's convert("RGB") does). 16-bit PNGs are reduced to 8 bits.
inline Image load_image(const std::string& path, int channels = 0) {
    require(channels >= 0 && channels <= 4, "load_image: channels must be 0 (as stored), 1, 2, 3 or 4, got " +
                                                std::to_string(channels) + " for '" + path + "'");
    const std::vector<unsigned char> bytes = detail::read_image_file(path);
    const char* format = detail::image_format(bytes);
    require(format != nullptr, "cannot decode image '" + path + "': not a PNG or JPEG file");
    int width = 0, height = 0, stored_channels = 0;
    std::unique_ptr<stbi_uc, void (*)(void*)> decoded(
        stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &width, &height, &stored_channels,
                              channels),
        &stbi_image_free);
    if (!decoded) {
        // stb's JPEG decoder can fail without a reason of its own, leaving the
        // PNG signature check's "bad png sig" from its format detection.
        const char* reason = stbi_failure_reason();
        const bool useful = reason != nullptr && std::strcmp(reason, "bad png sig") != 0;
        throw Error("cannot decode image '" + path + "': corrupt, truncated or unsupported " + format +
                    " data" + (useful ? std::string(" (stb_image: ") + reason + ")" : std::string()));
    }
    Image image{height, width, channels == 0 ? stored_channels : channels, {}};
    const std::size_t count = static_cast<std::size_t>(height) * width * image.channels;
    image.pixels.resize(count);
    for (std::size_t i = 0; i < count; ++i) image.pixels[i] = static_cast<float>(decoded.get()[i]) / 255.0f;
    return image;
}

// PIL's Image.resize(..., BILINEAR): antialiased (the filter widens with the
// downscale factor), separable, horizontal pass first, each pass rounded to 8
// bits. Bit-exact with PIL for 8-bit images; other values are rounded to the
// 8-bit grid first.
inline Image resize_bilinear(const Image& image, int height, int width) {
    require(height > 0 && width > 0, "resize_bilinear: the target size must be positive, got " +
                                         std::to_string(height) + "x" + std::to_string(width));
    require(image.height > 0 && image.width > 0 && image.channels > 0 &&
                image.pixels.size() == static_cast<std::size_t>(image.height) * image.width * image.channels,
            "resize_bilinear: the image " + detail::image_size_string(image) + " holds " +
                std::to_string(image.pixels.size()) + " samples");
    std::vector<std::uint8_t> samples(image.pixels.size());
    std::transform(image.pixels.begin(), image.pixels.end(), samples.begin(), detail::to_8bit);
    if (width != image.width)
        samples = detail::resample_axis(samples, image.height, image.width, width, image.channels);
    if (height != image.height)
        samples = detail::resample_axis(samples, 1, image.height, height, width * image.channels);
    Image resized{height, width, image.channels, std::vector<float>(samples.size())};
    std::transform(samples.begin(), samples.end(), resized.pixels.begin(),
                   [](std::uint8_t value) { return static_cast<float>(value) / 255.0f; });
    return resized;
}

// torchvision's Resize(size) on a PIL image: the shorter side becomes size, the
// longer int(size * long / short) (truncated); an image already that size is
// returned unchanged.
inline Image resize_shorter_side(const Image& image, int size) {
    require(size > 0, "resize_shorter_side: the size must be positive, got " + std::to_string(size));
    require(image.height > 0 && image.width > 0,
            "resize_shorter_side: the image is empty (" + detail::image_size_string(image) + ")");
    const bool portrait = image.width <= image.height;
    const std::int64_t shorter = portrait ? image.width : image.height;
    const std::int64_t longer = portrait ? image.height : image.width;
    const std::int64_t new_longer = size * longer / shorter;
    require(new_longer <= INT_MAX, "resize_shorter_side: resizing " + detail::image_size_string(image) +
                                       " to shorter side " + std::to_string(size) + " is too large");
    const int new_height = portrait ? static_cast<int>(new_longer) : size;
    const int new_width = portrait ? size : static_cast<int>(new_longer);
    if (new_height == image.height && new_width == image.width) return image;
    return resize_bilinear(image, new_height, new_width);
}

// torchvision's CenterCrop: offsets int(round((size - crop) / 2.0)), with
// Python's halves-to-even rounding. Unlike torchvision it does not zero-pad a
// crop larger than the image; that is an error.
inline Image center_crop(const Image& image, int height, int width) {
    require(height > 0 && width > 0 && height <= image.height && width <= image.width,
            "center_crop: cannot crop " + std::to_string(height) + "x" + std::to_string(width) +
                " from an image of " + detail::image_size_string(image));
    const int top = detail::centre_offset(image.height - height);
    const int left = detail::centre_offset(image.width - width);
    const std::size_t row = static_cast<std::size_t>(width) * image.channels;
    Image cropped{height, width, image.channels, std::vector<float>(row * height)};
    for (int y = 0; y < height; ++y) {
        const auto source = image.pixels.begin() +
                            (static_cast<std::ptrdiff_t>(top + y) * image.width + left) * image.channels;
        std::copy(source, source + static_cast<std::ptrdiff_t>(row), cropped.pixels.begin() + y * row);
    }
    return cropped;
}

// (pixel - mean[c]) / stddev[c] in float, as torchvision's ToTensor + Normalize,
// as a 1 x C x H x W tensor.
inline Tensor normalize_to_chw(const Image& image, const std::vector<float>& mean,
                               const std::vector<float>& stddev) {
    const auto channels = static_cast<std::size_t>(image.channels);
    require(mean.size() == channels && stddev.size() == channels,
            "normalize_to_chw: the image has " + std::to_string(channels) + " channels but mean has " +
                std::to_string(mean.size()) + " and stddev " + std::to_string(stddev.size()) + " values");
    require(std::none_of(stddev.begin(), stddev.end(), [](float s) { return s == 0.0f; }),
            "normalize_to_chw: stddev must not be zero");
    const auto height = static_cast<std::size_t>(image.height);
    const auto width = static_cast<std::size_t>(image.width);
    Tensor tensor = Tensor::from_shape({1, channels, height, width});
    float* out = tensor.data();
    for (std::size_t c = 0; c < channels; ++c)
        for (std::size_t i = 0; i < height * width; ++i)
            *out++ = (image.pixels[i * channels + c] - mean[c]) / stddev[c];
    return tensor;
}

// The standard ImageNet evaluation input: RGB, shorter side resized to 256,
// centre 224 x 224 crop, normalised; 1 x 3 x 224 x 224.
inline Tensor imagenet_preprocess(const std::string& path) {
    const Image resized = resize_shorter_side(load_image(path, 3), 256);
    return normalize_to_chw(center_crop(resized, 224, 224), imagenet_mean, imagenet_stddev);
}

// Preprocesses every file (each result 1 x C x H x W, all the same shape) and
// stacks them into N x C x H x W.
inline Tensor load_images_batch(
    const std::vector<std::string>& paths,
    const std::function<Tensor(const std::string&)>& preprocess = imagenet_preprocess) {
    require(!paths.empty(), "load_images_batch: no image files given");
    Tensor batch;
    Tensor::shape_type first_shape;
    for (std::size_t n = 0; n < paths.size(); ++n) {
        const Tensor one = preprocess(paths[n]);
        require(one.dimension() == 4 && one.shape()[0] == 1, "load_images_batch: preprocessing '" + paths[n] +
                                                                 "' gave shape " + shape_string(one.shape()) +
                                                                 ", expected 1 x C x H x W");
        if (n == 0) {
            first_shape = one.shape();
            batch = Tensor::from_shape({paths.size(), one.shape()[1], one.shape()[2], one.shape()[3]});
        }
        require(one.shape() == first_shape, "load_images_batch: '" + paths[n] + "' preprocessed to shape " +
                                                shape_string(one.shape()) + " but '" + paths[0] + "' to " +
                                                shape_string(first_shape));
        std::copy(one.data(), one.data() + one.size(), batch.data() + n * one.size());
    }
    return batch;
}

}  // namespace bagnet::io
