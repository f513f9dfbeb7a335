#pragma once
// Heatmap figures a person can read at a glance: the image, then each class's
// evidence in the paper's convention (RdBu_r, symmetric limits at the 99th
// percentile of |evidence|, the image's edges drawn over it), then a colour bar.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <xtensor/xview.hpp>

#include "bagnet/explain/colormap.hpp"
#include "bagnet/explain/geometry.hpp"
#include "bagnet/explain/picture.hpp"
#include "bagnet/tensor.hpp"

namespace bagnet {

// How a normalised input is turned back into [0, 1] pixels for display.
struct Display {
    std::vector<float> mean, stddev;  // per channel; empty: stretch the image's own range
    static Display imagenet() { return {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}}; }
};

// Image n of a batch as C x H x W display values in [0, 1].
inline Tensor displayable(const ImagesView& x, std::size_t n, const Display& display = {}) {
    const std::size_t channels = x.shape()[1], height = x.shape()[2], width = x.shape()[3];
    require(display.mean.empty() || (display.mean.size() == channels && display.stddev.size() == channels),
            "the display statistics have " + std::to_string(display.mean.size()) + " channels, the image " +
                std::to_string(channels));
    Tensor image = Tensor::from_shape({channels, height, width});
    float low = 0.f, high = 1.f;
    if (display.mean.empty()) {
        const float* first = &x(n, 0, 0, 0);
        const auto [min, max] = std::minmax_element(first, first + channels * height * width);
        low = *min;
        high = *max > *min ? *max : *min + 1.f;
    }
    for (std::size_t c = 0; c < channels; ++c)
        for (std::size_t y = 0; y < height; ++y)
            for (std::size_t i = 0; i < width; ++i) {
                const float v = x(n, c, y, i);
                const float pixel = display.mean.empty() ? (v - low) / (high - low) : v * display.stddev[c] + display.mean[c];
                image(c, y, i) = std::clamp(pixel, 0.f, 1.f);
            }
    return image;
}

// A coarse H' x W' map spread over an height x width image: entry (i, j) belongs to
// the patch centred on pixel (s i + (q-1)/2, s j + (q-1)/2), and each pixel shows the
// nearest patch centre's value.
inline Tensor coarse_to_pixels(const Tensor& coarse, const Architecture& arch, std::size_t height, std::size_t width) {
    const int stride = output_stride(arch);
    const double half = (arch.patch_size - 1) / 2.0;
    const auto nearest = [&](std::size_t pixel, std::size_t entries) {
        const double index = std::round((double(pixel) - half) / stride);
        return std::size_t(std::clamp(index, 0.0, double(entries - 1)));
    };
    Tensor pixels = Tensor::from_shape({height, width});
    for (std::size_t y = 0; y < height; ++y)
        for (std::size_t x = 0; x < width; ++x)
            pixels(y, x) = coarse(nearest(y, coarse.shape()[0]), nearest(x, coarse.shape()[1]));
    return pixels;
}

inline Picture to_picture(const Tensor& image) {
    const int channels = int(image.shape()[0]), height = int(image.shape()[1]), width = int(image.shape()[2]);
    Picture picture(width, height);
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            const auto sample = [&](int c) {
                return std::uint8_t(std::lround(255.f * image(std::size_t(std::min(c, channels - 1)), y, x)));
            };
            picture.at(x, y) = {sample(0), sample(1), sample(2)};
        }
    return picture;
}

// Where a picture has strong edges (Sobel magnitude of its grey version above
// both a fifth of the maximum and the 85th percentile): the outlines that let a
// viewer see what the evidence sits on. Taken from the enlarged picture, so that
// they stay thin lines however much a small image is enlarged.
inline std::vector<bool> edges_of(const Picture& picture) {
    const int height = picture.height(), width = picture.width();
    const auto grey = [&](int y, int x) {
        const Rgb p = picture.at(std::clamp(x, 0, width - 1), std::clamp(y, 0, height - 1));
        return (float(p.r) + float(p.g) + float(p.b)) / (3.f * 255.f);
    };
    std::vector<float> magnitude(std::size_t(height) * std::size_t(width));
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            const float gx = grey(y - 1, x + 1) + 2 * grey(y, x + 1) + grey(y + 1, x + 1) - grey(y - 1, x - 1) -
                             2 * grey(y, x - 1) - grey(y + 1, x - 1);
            const float gy = grey(y + 1, x - 1) + 2 * grey(y + 1, x) + grey(y + 1, x + 1) - grey(y - 1, x - 1) -
                             2 * grey(y - 1, x) - grey(y - 1, x + 1);
            magnitude[std::size_t(y) * std::size_t(width) + std::size_t(x)] = std::sqrt(gx * gx + gy * gy);
        }
    std::vector<float> sorted = magnitude;
    const std::size_t rank = sorted.size() * 85 / 100;
    std::nth_element(sorted.begin(), sorted.begin() + std::ptrdiff_t(rank), sorted.end());
    const float strongest = *std::max_element(magnitude.begin(), magnitude.end());
    const float threshold = std::max({sorted[rank], 0.2f * strongest, 1e-6f});
    std::vector<bool> edges(magnitude.size());
    for (std::size_t i = 0; i < magnitude.size(); ++i) edges[i] = magnitude[i] > threshold;
    return edges;
}

// An H x W evidence map coloured with limits +-limit.
inline Picture evidence_picture(const Tensor& evidence, float limit) {
    const int height = int(evidence.shape()[0]), width = int(evidence.shape()[1]);
    Picture picture(width, height);
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) picture.at(x, y) = diverging_colour(evidence(y, x), limit);
    return picture;
}

// Darkens the edge pixels (edges_of a picture of the same size).
inline void draw_edges(Picture& picture, const std::vector<bool>& edges) {
    for (int y = 0; y < picture.height(); ++y)
        for (int x = 0; x < picture.width(); ++x)
            if (edges[std::size_t(y) * std::size_t(picture.width()) + std::size_t(x)])
                picture.at(x, y) = mix(picture.at(x, y), black, 0.45f);
}

inline std::string format_number(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.3g", value);
    return text;
}

// A vertical colour bar from +limit (top) to -limit (bottom), with its labels.
inline Picture colour_bar(float limit, int height) {
    const int bar = 16, scale = 1;
    const std::string top = "+" + format_number(limit), bottom = "-" + format_number(limit);
    const int label_width = std::max(Picture::text_width(top, scale), Picture::text_width(bottom, scale));
    Picture picture(bar + 6 + label_width + 4, height);
    for (int y = 0; y < height; ++y)
        picture.fill(0, y, bar, 1, diverging_colour(limit * (1.f - 2.f * float(y) / float(std::max(height - 1, 1))), limit));
    picture.frame(0, 0, bar, height, {128, 128, 128});
    picture.text(bar + 4, 0, top, black, scale);
    picture.text(bar + 4, height / 2 - 5, "0", black, scale);
    picture.text(bar + 4, height - Picture::text_height(scale), bottom, black, scale);
    return picture;
}

// The figure: [image] [evidence of each map] [colour bar], each map under its
// label, all maps with one shared limit (the 99th percentile of |evidence| over
// all of them) so that their colours compare. image: C x H x W in [0, 1]; maps:
// K x H x W. Small images are enlarged so that the figure is about 224 pixels high.
inline Picture heatmap_figure(const Tensor& image, const Tensor& maps, const std::vector<std::string>& labels,
                              const std::string& title = "", double percentile = 99.0) {
    require(maps.dimension() == 3 && image.dimension() == 3 && maps.shape()[1] == image.shape()[1] &&
                maps.shape()[2] == image.shape()[2] && labels.size() == maps.shape()[0],
            "heatmap_figure: maps " + shape_string(maps.shape()) + " do not match image " + shape_string(image.shape()) +
                " and " + std::to_string(labels.size()) + " labels");
    const int height = int(image.shape()[1]), width = int(image.shape()[2]);
    const int factor = std::max(1, 224 / std::max(height, 1));
    const float limit = symmetric_limit(std::vector<float>(maps.begin(), maps.end()), percentile);
    const Picture shown = to_picture(image).enlarged(factor);
    const std::vector<bool> edges = edges_of(shown);

    const int gap = 8, label_height = Picture::text_height() + 4, top = title.empty() ? gap : 2 * gap + Picture::text_height();
    const int panel_w = width * factor, panel_h = height * factor;
    const Picture bar = colour_bar(limit, panel_h);
    const int panels = 1 + int(maps.shape()[0]);
    Picture figure(gap + panels * (panel_w + gap) + bar.width() + gap, top + panel_h + label_height + gap);
    if (!title.empty()) figure.text(gap, gap, title);
    figure.paste(shown, gap, top);
    figure.text(gap, top + panel_h + 3, "image");
    for (std::size_t k = 0; k < maps.shape()[0]; ++k) {
        const Tensor map = xt::view(maps, k, xt::all(), xt::all());
        const int x = gap + int(k + 1) * (panel_w + gap);
        Picture panel = evidence_picture(map, limit).enlarged(factor);
        draw_edges(panel, edges);
        figure.paste(panel, x, top);
        figure.text(x, top + panel_h + 3, labels[k]);
    }
    figure.paste(bar, gap + panels * (panel_w + gap), top);
    return figure;
}

}  // namespace bagnet
