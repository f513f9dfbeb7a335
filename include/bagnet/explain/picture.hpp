#pragma once
// An RGB canvas for the pictures the explanations produce: rectangles, pasted
// pictures, small text, PNG encoding (libpng, bagnet/io/png.hpp), and atomic PNG
// files. Text uses stb_easy_font, a header of plain functions.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "bagnet/error.hpp"
#include "bagnet/explain/colormap.hpp"
#include "bagnet/io/atomic_file.hpp"
#include "bagnet/io/png.hpp"

#include "bagnet/io/detail/stb_warnings_begin.hpp"
#include <stb/stb_easy_font.h>
#include "bagnet/io/detail/stb_warnings_end.hpp"

namespace bagnet {

inline constexpr Rgb white{255, 255, 255};
inline constexpr Rgb black{0, 0, 0};

class Picture {
public:
    Picture(int width, int height, Rgb background = white) : width_(width), height_(height) {
        require(width > 0 && height > 0 && width <= 1 << 15 && height <= 1 << 15,
                "a picture must be 1 to 32768 pixels wide and high, got " + std::to_string(width) + " x " +
                    std::to_string(height));
        pixels_.assign(std::size_t(width) * std::size_t(height), background);
    }

    int width() const { return width_; }
    int height() const { return height_; }
    Rgb& at(int x, int y) { return pixels_[std::size_t(y) * std::size_t(width_) + std::size_t(x)]; }
    const Rgb& at(int x, int y) const { return pixels_[std::size_t(y) * std::size_t(width_) + std::size_t(x)]; }

    // Drawing is clipped to the canvas, so callers need not check bounds.
    void fill(int x, int y, int w, int h, Rgb colour, float alpha = 1.f) {
        for (int row = std::max(y, 0); row < std::min(y + h, height_); ++row)
            for (int col = std::max(x, 0); col < std::min(x + w, width_); ++col)
                at(col, row) = alpha >= 1.f ? colour : mix(at(col, row), colour, alpha);
    }

    void frame(int x, int y, int w, int h, Rgb colour, int thickness = 1) {
        fill(x, y, w, thickness, colour);
        fill(x, y + h - thickness, w, thickness, colour);
        fill(x, y, thickness, h, colour);
        fill(x + w - thickness, y, thickness, h, colour);
    }

    void paste(const Picture& other, int x, int y) {
        for (int row = std::max(0, -y); row < other.height_ && y + row < height_; ++row)
            for (int col = std::max(0, -x); col < other.width_ && x + col < width_; ++col)
                at(x + col, y + row) = other.at(col, row);
    }

    // Each pixel becomes a factor x factor block: small images stay crisp.
    Picture enlarged(int factor) const {
        Picture out(width_ * factor, height_ * factor);
        for (int y = 0; y < out.height_; ++y)
            for (int x = 0; x < out.width_; ++x) out.at(x, y) = at(x / factor, y / factor);
        return out;
    }

    // ASCII text, top-left at (x, y), each font pixel a scale x scale block.
    void text(int x, int y, const std::string& text, Rgb colour = black, int scale = 1) {
        std::vector<char> quads(text.size() * 300 + 1000);
        std::string copy = text;
        const int count = stb_easy_font_print(0, 0, copy.data(), nullptr, quads.data(), int(quads.size()));
        for (int q = 0; q < count; ++q) {
            // 4 vertices of 16 bytes (x, y, z floats and a colour); 0 and 2 are opposite corners.
            float corner0[2], corner2[2];
            std::memcpy(corner0, &quads[std::size_t(q) * 64], sizeof corner0);
            std::memcpy(corner2, &quads[std::size_t(q) * 64 + 32], sizeof corner2);
            fill(x + int(corner0[0]) * scale, y + int(corner0[1]) * scale, int(corner2[0] - corner0[0]) * scale,
                 int(corner2[1] - corner0[1]) * scale, colour);
        }
    }
    static int text_width(const std::string& text, int scale = 1) {
        std::string copy = text;
        return stb_easy_font_width(copy.data()) * scale;
    }
    static int text_height(int scale = 1) { return 12 * scale; }

    // The picture as PNG file content.
    std::vector<unsigned char> png() const {
        static_assert(sizeof(Rgb) == 3, "Rgb must be packed to hand the pixels to libpng");
        return io::encode_png(reinterpret_cast<const std::uint8_t*>(pixels_.data()), width_, height_, 3);
    }

    // Writes the PNG atomically: the file appears whole or not at all.
    void save_png(const std::string& path) const {
        const auto encoded = png();
        io::write_file_atomically(path, [&](std::ostream& out) {
            out.write(reinterpret_cast<const char*>(encoded.data()), std::streamsize(encoded.size()));
        });
    }

private:
    int width_, height_;
    std::vector<Rgb> pixels_;
};

// Pictures one under the other, left-aligned, on white.
inline Picture stacked(const std::vector<Picture>& pictures) {
    require(!pictures.empty(), "no pictures to stack");
    int width = 0, height = 0;
    for (const auto& p : pictures) {
        width = std::max(width, p.width());
        height += p.height();
    }
    Picture out(width, height);
    int y = 0;
    for (const auto& p : pictures) {
        out.paste(p, 0, y);
        y += p.height();
    }
    return out;
}

}  // namespace bagnet
