#pragma once
// JPEG through libjpeg-turbo with the settings PIL uses (its defaults: the
// accurate integer IDCT and fancy upsampling), so a decoded photo is PIL's to the
// last bit. Baseline, progressive, grey, YCbCr and CMYK/YCCK files decode; the
// pixel limit is checked from the header, before the image is allocated.
//
// CMYK comes out as RGB the way PIL converts it: PIL reads every CMYK JPEG with
// Adobe's inverted polarity (as Photoshop writes them, and as PIL itself does),
// so each stored sample s stands for ink 255 - s, and then
// R = (255 - K) - (C (255 - K)) / 255, rounded, and likewise G from M, B from Y.
//
// libjpeg reports errors through error_exit, which must not return: ours records
// the message and longjmps to the setjmp in the step that called libjpeg. The
// steps (jpeg_*_step below) hold only plain values, so no C++ object is skipped.
// A premature end of the data is only a warning to libjpeg (it pads the image
// with grey); here, as in PIL, it is an error.
#include <cstdio>

#include <jpeglib.h>
// jpeglib.h needs <cstdio> first and does not include jerror.h itself.
#include <jerror.h>

#include <csetjmp>
#include <string>
#include <vector>

#include "bagnet/io/image_data.hpp"

namespace bagnet::io {
namespace detail {

// A progressive file can hold thousands of tiny scans, each a pass over the
// whole image: more than this is refused (libjpeg-turbo's advice for untrusted data).
constexpr int jpeg_max_scans = 1000;

struct JpegErrors {
    jpeg_error_mgr manager;  // first, so that libjpeg's pointer to it is a pointer to this
    std::jmp_buf jump;
    char text[JMSG_LENGTH_MAX];
};

inline void jpeg_on_error(j_common_ptr info) {
    auto* errors = reinterpret_cast<JpegErrors*>(info->err);
    (*info->err->format_message)(info, errors->text);
    std::longjmp(errors->jump, 1);
}

// level -1 is a warning, higher levels are trace messages. Corrupt-data warnings
// are ignored, as PIL ignores them; running out of data is an error.
inline void jpeg_on_message(j_common_ptr info, int level) {
    if (level == -1 && info->err->msg_code == JWRN_JPEG_EOF) {
        auto* errors = reinterpret_cast<JpegErrors*>(info->err);
        std::snprintf(errors->text, sizeof errors->text, "the file is truncated");
        std::longjmp(errors->jump, 1);
    }
}

inline void jpeg_on_progress(j_common_ptr info) {
    if (info->is_decompressor && reinterpret_cast<j_decompress_ptr>(info)->input_scan_number > jpeg_max_scans) {
        auto* errors = reinterpret_cast<JpegErrors*>(info->err);
        std::snprintf(errors->text, sizeof errors->text, "more than %d progressive scans", jpeg_max_scans);
        std::longjmp(errors->jump, 1);
    }
}

inline bool jpeg_header_step(j_decompress_ptr info, JpegErrors* errors, const unsigned char* data, unsigned long size) {
    if (setjmp(errors->jump)) return false;
    jpeg_mem_src(info, data, size);
    jpeg_read_header(info, TRUE);
    const J_COLOR_SPACE stored = info->jpeg_color_space;
    info->out_color_space = stored == JCS_GRAYSCALE                  ? JCS_GRAYSCALE
                            : stored == JCS_CMYK || stored == JCS_YCCK ? JCS_CMYK
                                                                       : JCS_RGB;
    jpeg_calc_output_dimensions(info);
    return true;
}

inline bool jpeg_pixels_step(j_decompress_ptr info, JpegErrors* errors, JSAMPROW* rows) {
    if (setjmp(errors->jump)) return false;
    jpeg_start_decompress(info);
    while (info->output_scanline < info->output_height)
        jpeg_read_scanlines(info, rows + info->output_scanline, info->output_height - info->output_scanline);
    jpeg_finish_decompress(info);
    return true;
}

struct JpegDecompressor {
    jpeg_decompress_struct info{};
    JpegErrors errors{};
    jpeg_progress_mgr progress{};
    JpegDecompressor() {
        info.err = jpeg_std_error(&errors.manager);
        errors.manager.error_exit = jpeg_on_error;
        errors.manager.emit_message = jpeg_on_message;
        progress.progress_monitor = jpeg_on_progress;
        // jpeg_create_decompress only allocates; its one failure (memory) is caught here.
        if (setjmp(errors.jump)) throw Error("libjpeg is out of memory");
        jpeg_create_decompress(&info);
        info.progress = &progress;
    }
    ~JpegDecompressor() { jpeg_destroy_decompress(&info); }
    JpegDecompressor(const JpegDecompressor&) = delete;
    JpegDecompressor& operator=(const JpegDecompressor&) = delete;
};

// PIL's CMYK -> RGB for one sample (ink and the complement of black), rounded
// as PIL rounds a * b / 255.
inline std::uint8_t cmyk_to_rgb_sample(int ink, int not_black) {
    const int product = ink * not_black + 128;
    return std::uint8_t(not_black - (((product >> 8) + product) >> 8));
}

}  // namespace detail

// Decodes a JPEG file's bytes (`path` names it in errors): 1 channel for grey
// files, 3 (RGB) for all others.
inline Image decode_jpeg(const std::vector<unsigned char>& bytes, const std::string& path,
                         const DecodeOptions& options = {}) {
    const auto fail = [&](const char* reason) {
        return Error("cannot decode image '" + path + "': corrupt or truncated JPEG data (libjpeg: " + reason + ")");
    };
    detail::JpegDecompressor decoder;
    if (!detail::jpeg_header_step(&decoder.info, &decoder.errors, bytes.data(), static_cast<unsigned long>(bytes.size())))
        throw fail(decoder.errors.text);
    detail::check_pixel_limit(path, "JPEG", decoder.info.output_width, decoder.info.output_height, options);
    const int components = decoder.info.output_components;
    require(components == 1 || components == 3 || components == 4,
            "cannot decode image '" + path + "': JPEG with " + std::to_string(components) + " colour components");
    Image image{int(decoder.info.output_height), int(decoder.info.output_width), components, {}};
    image.pixels.resize(std::size_t(image.height) * std::size_t(image.width) * std::size_t(components));
    std::vector<JSAMPROW> rows(static_cast<std::size_t>(image.height));
    for (std::size_t y = 0; y < rows.size(); ++y)
        rows[y] = image.pixels.data() + y * std::size_t(image.width) * std::size_t(components);
    if (!detail::jpeg_pixels_step(&decoder.info, &decoder.errors, rows.data())) throw fail(decoder.errors.text);
    if (components != 4) return image;
    Image rgb{image.height, image.width, 3, std::vector<std::uint8_t>(std::size_t(image.height) * std::size_t(image.width) * 3)};
    for (std::size_t i = 0, n = std::size_t(image.height) * std::size_t(image.width); i < n; ++i) {
        const std::uint8_t* cmyk = &image.pixels[4 * i];
        const int not_black = cmyk[3];  // inverted polarity: the stored K is already 255 - K
        for (int c = 0; c < 3; ++c) rgb.pixels[3 * i + std::size_t(c)] = detail::cmyk_to_rgb_sample(255 - cmyk[c], not_black);
    }
    return rgb;
}

}  // namespace bagnet::io
