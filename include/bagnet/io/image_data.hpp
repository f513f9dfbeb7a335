#pragma once
// Decoded images and the limits every decoder enforces before it allocates:
// only regular files are read, their size is checked before reading, and an
// image whose header promises more pixels than the limit is refused from the
// header alone (a 389 KB PNG can claim 20,000 x 20,000 pixels).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "bagnet/error.hpp"

namespace bagnet::io {

// A decoded picture: height x width x channels 8-bit samples, row-major (HWC),
// as PIL holds them. channels: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA.
struct Image {
    int height = 0;
    int width = 0;
    int channels = 0;
    std::vector<std::uint8_t> pixels;

    std::uint8_t& at(int y, int x, int c) {
        return pixels[(std::size_t(y) * std::size_t(width) + std::size_t(x)) * std::size_t(channels) + std::size_t(c)];
    }
    std::uint8_t at(int y, int x, int c) const {
        return pixels[(std::size_t(y) * std::size_t(width) + std::size_t(x)) * std::size_t(channels) + std::size_t(c)];
    }
};

// PIL's decompression-bomb limit (Image.MAX_IMAGE_PIXELS * 2, beyond which PIL
// refuses to open a file): 178,956,970 pixels, about 13,377 x 13,377.
constexpr std::uint64_t default_max_pixels = 178956970;

struct DecodeOptions {
    std::uint64_t max_pixels = default_max_pixels;  // width x height above this is refused
    DecodeOptions& with_max_pixels(std::uint64_t n) { max_pixels = n; return *this; }

    // No honest PNG or JPEG of max_pixels pixels is larger than its samples stored
    // uncompressed at 16-bit RGBA (8 bytes a pixel), plus 16 MiB for metadata
    // (EXIF, ICC profiles, text): a larger file is refused before it is read.
    std::uint64_t max_file_bytes() const { return (std::uint64_t(16) << 20) + 8 * max_pixels; }
};

namespace detail {

inline std::string image_size_string(const Image& image) {
    return std::to_string(image.height) + "x" + std::to_string(image.width) + "x" + std::to_string(image.channels);
}

// The decompression-bomb check, from the header's dimensions alone.
inline void check_pixel_limit(const std::string& path, const char* format, std::uint64_t width, std::uint64_t height,
                              const DecodeOptions& options) {
    require(width >= 1 && height >= 1, "cannot decode image '" + path + "': the " + format + " header gives " +
                                           std::to_string(width) + " x " + std::to_string(height) + " pixels");
    if (width * height > options.max_pixels)
        throw Error("cannot decode image '" + path + "': " + std::to_string(width) + " x " + std::to_string(height) +
                        " = " + std::to_string(width * height) + " pixels exceeds the limit of " +
                        std::to_string(options.max_pixels) + " (a decompression bomb? DecodeOptions::max_pixels raises it)",
                    Remedy::raise_pixel_limit);
}

// The whole file, which must be a regular file of at most options.max_file_bytes().
// O_NONBLOCK keeps open() from waiting on a FIFO that nobody writes to; it has no
// effect on the regular files that are then read.
inline std::vector<unsigned char> read_image_file(const std::string& path, const DecodeOptions& options) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) throw Error("cannot open image '" + path + "': " + std::strerror(errno));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat status {};
    if (::fstat(fd, &status) != 0) throw Error("cannot read image '" + path + "': " + std::strerror(errno));
    if (S_ISDIR(status.st_mode)) throw Error("cannot read image '" + path + "': it is a directory");
    require(S_ISREG(status.st_mode), "cannot read image '" + path + "': not a regular file (a device, pipe or socket)");
    const auto size = std::uint64_t(status.st_size);
    require(size > 0, "cannot decode image '" + path + "': the file is empty");
    if (size > options.max_file_bytes())
        throw Error("cannot decode image '" + path + "': the file has " + std::to_string(size) +
                        " bytes, more than any image of " + std::to_string(options.max_pixels) +
                        " pixels needs (DecodeOptions::max_pixels raises the limit)",
                    Remedy::raise_pixel_limit);
    std::vector<unsigned char> bytes(static_cast<std::size_t>(size));
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t count = ::read(fd, bytes.data() + done, bytes.size() - done);
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) throw Error("cannot read image '" + path + "': " + std::strerror(errno));
        require(count > 0, "cannot read image '" + path + "': the file shrank while it was read");
        done += std::size_t(count);
    }
    return bytes;
}

}  // namespace detail
}  // namespace bagnet::io
