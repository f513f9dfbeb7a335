#pragma once
// PNG through libpng, the library PIL and torchvision use: every chunk's CRC and
// the zlib stream's checksum are verified, and the pixel limit is checked from
// the header before the image is allocated. Decoding gives 8-bit samples in the
// file's own layout, as PIL's modes do: grey (1, 2 and 4-bit grey expanded to
// 0..255), grey + alpha, RGB, RGBA; palettes become RGB, or RGBA when they carry
// transparency; 16-bit samples keep their high byte (PIL's "RGB;16B").
//
// libpng reports errors by calling an error function that must not return; ours
// records the message and longjmps to the setjmp in the step that called libpng.
// The steps (png_*_step below) hold only plain values, and the callbacks that
// the jump crosses hold none with destructors, so no C++ object is skipped; the
// C++ callers own the libpng structures and all memory.
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bagnet/io/image_data.hpp"

namespace bagnet::io {
namespace detail {

struct PngMessage {
    char text[256] = {};
};

inline void png_on_error(png_structp png, png_const_charp message) {
    auto* out = static_cast<PngMessage*>(png_get_error_ptr(png));
    std::snprintf(out->text, sizeof out->text, "%s", message);
    std::longjmp(png_jmpbuf(png), 1);
}

// As in PIL, warnings (an unknown ancillary chunk, say) do not fail a file.
inline void png_on_warning(png_structp, png_const_charp) {}

struct PngSource {
    const unsigned char* data = nullptr;
    std::size_t size = 0, position = 0;
};

inline void png_read_from_memory(png_structp png, png_bytep out, png_size_t count) {
    auto* source = static_cast<PngSource*>(png_get_io_ptr(png));
    if (count > source->size - source->position) png_error(png, "the file is truncated");
    std::memcpy(out, source->data + source->position, count);
    source->position += count;
}

struct PngLayout {
    png_uint_32 width = 0, height = 0;
    int channels = 0;
    std::size_t row_bytes = 0;
};

// Reads the chunks before the image data and sets up the transforms to 8-bit samples.
inline bool png_header_step(png_structp png, png_infop info, PngLayout* layout) {
    if (setjmp(png_jmpbuf(png))) return false;
    png_read_info(png, info);
    const int colour = png_get_color_type(png, info);
    const int depth = png_get_bit_depth(png, info);
    png_set_strip_16(png);
    if (colour == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (colour == PNG_COLOR_TYPE_PALETTE) {
        png_set_palette_to_rgb(png);
        if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    layout->width = png_get_image_width(png, info);
    layout->height = png_get_image_height(png, info);
    layout->channels = png_get_channels(png, info);
    layout->row_bytes = png_get_rowbytes(png, info);
    return true;
}

// Decodes every row, then reads the chunks after the image: the end of the zlib
// stream (its Adler-32 checksum) and the remaining CRCs are checked there.
inline bool png_pixels_step(png_structp png, png_infop info, png_bytep* rows) {
    if (setjmp(png_jmpbuf(png))) return false;
    png_read_image(png, rows);
    png_read_end(png, info);
    return true;
}

struct PngReadStructs {
    png_structp png = nullptr;
    png_infop info = nullptr;
    ~PngReadStructs() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

}  // namespace detail

// Decodes a PNG file's bytes (`path` names it in errors).
inline Image decode_png(const std::vector<unsigned char>& bytes, const std::string& path,
                        const DecodeOptions& options = {}) {
    const auto fail = [&](const char* reason) {
        return Error("cannot decode image '" + path + "': corrupt or truncated PNG data (libpng: " + reason + ")");
    };
    detail::PngMessage message;
    detail::PngSource source{bytes.data(), bytes.size(), 0};
    detail::PngReadStructs structs;
    structs.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &message, detail::png_on_error, detail::png_on_warning);
    if (structs.png) structs.info = png_create_info_struct(structs.png);
    if (!structs.png || !structs.info) throw Error("cannot decode image '" + path + "': libpng is out of memory");
    // A wrong checksum in any chunk, critical or ancillary, fails the file.
    png_set_crc_action(structs.png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
    // libpng otherwise only warns about a bad zlib checksum found after the last row.
    // That makes its other "benign" errors fatal too, so the chunks those come from
    // (colour profiles, gamma, text), which decoding does not use and PIL does not
    // check, are skipped unparsed, their CRCs still verified.
    png_set_benign_errors(structs.png, 0);
    static constexpr png_byte skipped[] = "bKGD\0cHRM\0eXIf\0gAMA\0hIST\0iCCP\0iTXt\0oFFs\0pCAL\0pHYs\0sBIT\0"
                                          "sCAL\0sPLT\0sRGB\0tEXt\0tIME\0zTXt";
    png_set_keep_unknown_chunks(structs.png, PNG_HANDLE_CHUNK_NEVER, skipped, int(sizeof skipped / 5));
    png_set_read_fn(structs.png, &source, detail::png_read_from_memory);
    detail::PngLayout layout;
    if (!detail::png_header_step(structs.png, structs.info, &layout)) throw fail(message.text);
    detail::check_pixel_limit(path, "PNG", layout.width, layout.height, options);
    Image image{int(layout.height), int(layout.width), layout.channels, {}};
    require(layout.row_bytes == std::size_t(image.width) * std::size_t(image.channels),
            "cannot decode image '" + path + "': unexpected PNG row layout");
    image.pixels.resize(layout.row_bytes * std::size_t(image.height));
    std::vector<png_bytep> rows(static_cast<std::size_t>(image.height));
    for (std::size_t y = 0; y < rows.size(); ++y) rows[y] = image.pixels.data() + y * layout.row_bytes;
    if (!detail::png_pixels_step(structs.png, structs.info, rows.data())) throw fail(message.text);
    return image;
}

namespace detail {

struct PngSink {
    std::vector<unsigned char>* bytes = nullptr;
};

// An allocation failure becomes a libpng error; the jump happens after the try
// block has ended, so it crosses no live C++ object.
inline void png_write_to_memory(png_structp png, png_bytep data, png_size_t count) {
    auto* sink = static_cast<PngSink*>(png_get_io_ptr(png));
    bool stored = true;
    try {
        sink->bytes->insert(sink->bytes->end(), data, data + count);
    } catch (...) {
        stored = false;
    }
    if (!stored) png_error(png, "out of memory");
}

inline void png_flush_nothing(png_structp) {}

inline bool png_write_step(png_structp png, png_infop info, png_uint_32 width, png_uint_32 height, int colour,
                           png_bytep* rows) {
    if (setjmp(png_jmpbuf(png))) return false;
    png_set_IHDR(png, info, width, height, 8, colour, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, info);
    return true;
}

struct PngWriteStructs {
    png_structp png = nullptr;
    png_infop info = nullptr;
    ~PngWriteStructs() { png_destroy_write_struct(&png, info ? &info : nullptr); }
};

}  // namespace detail

// PNG file content for 8-bit samples, HWC: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA.
inline std::vector<unsigned char> encode_png(const std::uint8_t* samples, int width, int height, int channels) {
    require(width >= 1 && height >= 1 && channels >= 1 && channels <= 4,
            "cannot encode a PNG of " + std::to_string(width) + " x " + std::to_string(height) + " x " +
                std::to_string(channels) + " samples");
    static constexpr int colours[] = {PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                      PNG_COLOR_TYPE_RGB_ALPHA};
    detail::PngMessage message;
    std::vector<unsigned char> bytes;
    detail::PngSink sink{&bytes};
    detail::PngWriteStructs structs;
    structs.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &message, detail::png_on_error, detail::png_on_warning);
    if (structs.png) structs.info = png_create_info_struct(structs.png);
    if (!structs.png || !structs.info) throw Error("cannot encode a PNG: libpng is out of memory");
    png_set_write_fn(structs.png, &sink, detail::png_write_to_memory, detail::png_flush_nothing);
    const std::size_t row = std::size_t(width) * std::size_t(channels);
    std::vector<png_bytep> rows(static_cast<std::size_t>(height));
    // libpng takes non-const row pointers but only reads them when writing.
    for (std::size_t y = 0; y < rows.size(); ++y) rows[y] = const_cast<png_bytep>(samples + y * row);
    if (!detail::png_write_step(structs.png, structs.info, png_uint_32(width), png_uint_32(height),
                                colours[channels - 1], rows.data()))
        throw Error("cannot encode a " + std::to_string(width) + " x " + std::to_string(height) +
                    " PNG (libpng: " + message.text + ")");
    return bytes;
}

}  // namespace bagnet::io
