#pragma once
// Images in: decoding PNG/JPEG files (bagnet/io/png.hpp, bagnet/io/jpeg.hpp), the
// resize and crop of torchvision's ImageNet pipeline (reproduced exactly, not
// approximately), and normalisation into the N x C x H x W tensors the models take.
#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

#include "bagnet/error.hpp"
#include "bagnet/io/image_data.hpp"
#include "bagnet/io/jpeg.hpp"
#include "bagnet/io/png.hpp"
#include "bagnet/tensor.hpp"

namespace bagnet::io {

// The per-channel statistics the published ImageNet models were trained with.
inline const std::vector<float> imagenet_mean{0.485f, 0.456f, 0.406f};
inline const std::vector<float> imagenet_stddev{0.229f, 0.224f, 0.225f};

namespace detail {

// "PNG" or "JPEG" from the file's signature, null for anything else.
inline const char* image_format(const std::vector<unsigned char>& bytes) {
    static constexpr unsigned char png_signature[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (bytes.size() >= sizeof png_signature &&
        std::equal(std::begin(png_signature), std::end(png_signature), bytes.begin()))
        return "PNG";
    if (bytes.size() >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff) return "JPEG";
    return nullptr;
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
// Each output line accumulates its taps over the whole inner extent at once, which
// keeps the vertical pass sequential in memory.
inline std::vector<std::uint8_t> resample_axis(const std::vector<std::uint8_t>& input, int outer,
                                               int input_size, int output_size, int inner) {
    const ResampleKernel kernel = bilinear_kernel(input_size, output_size);
    const auto extent = static_cast<std::size_t>(inner);
    std::vector<std::uint8_t> output(static_cast<std::size_t>(outer) * output_size * extent);
    std::vector<std::int32_t> sums(extent);
    for (int o = 0; o < outer; ++o) {
        const std::uint8_t* in_plane = &input[static_cast<std::size_t>(o) * input_size * extent];
        std::uint8_t* out_plane = &output[static_cast<std::size_t>(o) * output_size * extent];
        for (int out = 0; out < output_size; ++out) {
            const std::int32_t* weights =
                &kernel.weights[static_cast<std::size_t>(out) * kernel.taps_per_output];
            const int first = kernel.first[static_cast<std::size_t>(out)];
            const int count = kernel.count[static_cast<std::size_t>(out)];
            std::fill(sums.begin(), sums.end(), std::int32_t(1) << (resample_fraction_bits - 1));  // rounds half up
            for (int i = 0; i < count; ++i) {
                const std::uint8_t* line = in_plane + static_cast<std::size_t>(first + i) * extent;
                const std::int32_t weight = weights[i];
                for (std::size_t j = 0; j < extent; ++j) sums[j] += line[j] * weight;
            }
            std::uint8_t* target = out_plane + static_cast<std::size_t>(out) * extent;
            for (std::size_t j = 0; j < extent; ++j)
                target[j] = static_cast<std::uint8_t>(std::clamp(sums[j] >> resample_fraction_bits, 0, 255));
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

// PIL's convert() between 8-bit layouts: grey expands to RGB, alpha is dropped
// without compositing (convert("RGB")) or added as opaque, and colour becomes grey
// by ITU-R 601-2 luma in PIL's fixed point, L = (19595 R + 38470 G + 7471 B + 2^15) >> 16.
inline Image convert_channels(Image image, int channels) {
    require(channels >= 1 && channels <= 4, "convert_channels: channels must be 1, 2, 3 or 4, got " +
                                                std::to_string(channels));
    if (image.channels == channels) return image;
    const std::size_t n = std::size_t(image.height) * std::size_t(image.width);
    const auto from = std::size_t(image.channels), to = std::size_t(channels);
    Image out{image.height, image.width, channels, std::vector<std::uint8_t>(n * to)};
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint8_t* in = &image.pixels[i * from];
        std::uint8_t* o = &out.pixels[i * to];
        const bool colour = from >= 3, alpha = from == 2 || from == 4;
        const std::uint8_t grey =
            colour ? std::uint8_t((19595 * in[0] + 38470 * in[1] + 7471 * in[2] + 0x8000) >> 16) : in[0];
        if (to <= 2) {
            o[0] = grey;
        } else {
            for (std::size_t c = 0; c < 3; ++c) o[c] = colour ? in[c] : in[0];
        }
        if (to == 2 || to == 4) o[to - 1] = alpha ? in[from - 1] : 255;
    }
    return out;
}

// Decodes a PNG or JPEG file (by its signature, whatever its name). channels = 0
// keeps the file's layout; 1, 2, 3 or 4 converts as PIL's convert() does. Only
// regular files are read, at most options.max_file_bytes() of them, and an image
// of more than options.max_pixels pixels is refused from its header.
inline Image load_image(const std::string& path, int channels = 0, const DecodeOptions& options = {}) {
    require(channels >= 0 && channels <= 4, "load_image: channels must be 0 (as stored), 1, 2, 3 or 4, got " +
                                                std::to_string(channels) + " for '" + path + "'");
    const std::vector<unsigned char> bytes = detail::read_image_file(path, options);
    const char* format = detail::image_format(bytes);
    require(format != nullptr, "cannot decode image '" + path + "': not a PNG or JPEG file");
    Image image = format[0] == 'P' ? decode_png(bytes, path, options) : decode_jpeg(bytes, path, options);
    return channels == 0 ? image : convert_channels(std::move(image), channels);
}

// PIL's Image.resize(..., BILINEAR): antialiased (the filter widens with the
// downscale factor), separable, horizontal pass first, each pass rounded to 8
// bits, exactly as PIL computes it.
inline Image resize_bilinear(const Image& image, int height, int width) {
    require(height > 0 && width > 0, "resize_bilinear: the target size must be positive, got " +
                                         std::to_string(height) + "x" + std::to_string(width));
    require(image.height > 0 && image.width > 0 && image.channels > 0 &&
                image.pixels.size() == static_cast<std::size_t>(image.height) * image.width * image.channels,
            "resize_bilinear: the image " + detail::image_size_string(image) + " holds " +
                std::to_string(image.pixels.size()) + " samples");
    std::vector<std::uint8_t> samples = image.pixels;
    if (width != image.width)
        samples = detail::resample_axis(samples, image.height, image.width, width, image.channels);
    if (height != image.height)
        samples = detail::resample_axis(samples, 1, image.height, height, width * image.channels);
    return Image{height, width, image.channels, std::move(samples)};
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

// The height x width window whose top-left pixel is (top, left): PIL's crop of a
// box inside the image.
inline Image crop(const Image& image, int top, int left, int height, int width) {
    require(height > 0 && width > 0 && top >= 0 && left >= 0 && top + height <= image.height &&
                left + width <= image.width,
            "crop: cannot crop " + std::to_string(height) + "x" + std::to_string(width) + " at (" +
                std::to_string(top) + ", " + std::to_string(left) + ") from an image of " +
                detail::image_size_string(image));
    const std::size_t row = static_cast<std::size_t>(width) * image.channels;
    Image cropped{height, width, image.channels, std::vector<std::uint8_t>(row * height)};
    for (int y = 0; y < height; ++y) {
        const auto source = image.pixels.begin() +
                            (static_cast<std::ptrdiff_t>(top + y) * image.width + left) * image.channels;
        std::copy(source, source + static_cast<std::ptrdiff_t>(row), cropped.pixels.begin() + y * row);
    }
    return cropped;
}

// torchvision's CenterCrop: offsets int(round((size - crop) / 2.0)), with
// Python's halves-to-even rounding. Unlike torchvision it does not zero-pad a
// crop larger than the image; that is an error.
inline Image center_crop(const Image& image, int height, int width) {
    require(height > 0 && width > 0 && height <= image.height && width <= image.width,
            "center_crop: cannot crop " + std::to_string(height) + "x" + std::to_string(width) +
                " from an image of " + detail::image_size_string(image));
    return crop(image, detail::centre_offset(image.height - height), detail::centre_offset(image.width - width), height,
                width);
}

// Writes (pixel / 255 - mean[c]) / stddev[c] in float, as torchvision's ToTensor +
// Normalize, channels first: C x H x W values at `out`.
inline void normalize_into(const Image& image, const std::vector<float>& mean, const std::vector<float>& stddev,
                           float* out) {
    const auto channels = static_cast<std::size_t>(image.channels);
    require(mean.size() == channels && stddev.size() == channels,
            "normalize: the image has " + std::to_string(channels) + " channels but mean has " +
                std::to_string(mean.size()) + " and stddev " + std::to_string(stddev.size()) + " values");
    require(std::none_of(stddev.begin(), stddev.end(), [](float s) { return s == 0.0f; }),
            "normalize: stddev must not be zero");
    const std::size_t plane = static_cast<std::size_t>(image.height) * static_cast<std::size_t>(image.width);
    for (std::size_t c = 0; c < channels; ++c)
        for (std::size_t i = 0; i < plane; ++i)
            *out++ = (static_cast<float>(image.pixels[i * channels + c]) / 255.0f - mean[c]) / stddev[c];
}

// normalize_into as a 1 x C x H x W tensor.
inline Tensor normalize_to_chw(const Image& image, const std::vector<float>& mean,
                               const std::vector<float>& stddev) {
    Tensor tensor = Tensor::from_shape({1, static_cast<std::size_t>(image.channels),
                                        static_cast<std::size_t>(image.height), static_cast<std::size_t>(image.width)});
    normalize_into(image, mean, stddev, tensor.data());
    return tensor;
}

// The standard ImageNet evaluation input: RGB, shorter side resized to 256,
// centre 224 x 224 crop, normalised; 1 x 3 x 224 x 224.
inline Tensor imagenet_preprocess(const std::string& path, const DecodeOptions& options = {}) {
    const Image resized = resize_shorter_side(load_image(path, 3, options), 256);
    return normalize_to_chw(center_crop(resized, 224, 224), imagenet_mean, imagenet_stddev);
}

}  // namespace bagnet::io
