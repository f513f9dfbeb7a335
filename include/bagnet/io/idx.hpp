#pragma once
// IDX files, the format of MNIST and Fashion-MNIST, gzip-compressed as Debian's
// dataset-fashion-mnist ships them (data/fashion_mnist.hpp reads that data set). An IDX file is a big-endian header, magic
// 0x0000 TT DD (TT the element type, 0x08 = unsigned byte; DD the rank), DD
// 32-bit dimensions, then the elements row-major.
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bagnet/error.hpp"
#include "bagnet/tensor.hpp"

namespace bagnet {

struct LabelledImages {
    Tensor4 images;                     // N x C x H x W
    std::vector<std::int64_t> labels;   // N class indices
};

namespace io {

struct IdxArray {
    std::vector<std::size_t> shape;
    std::vector<std::uint8_t> data;
};

// Reads a gzip-compressed (or, as zlib allows, uncompressed) IDX file of unsigned bytes.
inline IdxArray read_idx_gz(const std::string& path) {
    std::unique_ptr<gzFile_s, decltype(&gzclose)> file(gzopen(path.c_str(), "rb"), &gzclose);
    require(file != nullptr, path + ": cannot open (missing file or no permission)");
    auto read_exactly = [&](void* target, std::size_t bytes, const char* what) {
        const int got = gzread(file.get(), target, unsigned(bytes));
        int code = Z_OK;
        const char* message = got < 0 ? gzerror(file.get(), &code) : nullptr;
        require(got >= 0, path + ": corrupt gzip data (" + std::string(message ? message : "read error") + ")");
        require(std::size_t(got) == bytes, path + ": truncated IDX file (while reading the " + std::string(what) + ")");
    };
    unsigned char magic[4];
    read_exactly(magic, 4, "header");
    require(magic[0] == 0 && magic[1] == 0, path + ": not an IDX file (bad magic number)");
    require(magic[2] == 0x08, path + ": IDX element type " + std::to_string(magic[2]) + " is not unsigned byte (0x08)");
    const int rank = magic[3];
    require(rank >= 1 && rank <= 4, path + ": IDX rank " + std::to_string(rank) + " is not between 1 and 4");
    IdxArray array;
    std::size_t count = 1;
    for (int d = 0; d < rank; ++d) {
        unsigned char b[4];
        read_exactly(b, 4, "header");
        const std::size_t size = (std::size_t(b[0]) << 24) | (std::size_t(b[1]) << 16) | (std::size_t(b[2]) << 8) | b[3];
        require(size >= 1 && size <= (std::size_t(1) << 30) / count,
                path + ": IDX dimension " + std::to_string(size) + " is empty or implausibly large");
        array.shape.push_back(size);
        count *= size;
    }
    // The header's sizes are only a claim: the data is read in pieces of at most 16 MiB, so
    // that a 16-byte file claiming a gigabyte fails as truncated without allocating one.
    constexpr std::size_t piece = std::size_t(16) << 20;
    for (std::size_t done = 0; done < count; done += piece) {
        const std::size_t size = std::min(piece, count - done);
        array.data.resize(done + size);
        read_exactly(array.data.data() + done, size, "data");
    }
    return array;
}

}  // namespace io

// Images (N x H x W bytes) and labels (N bytes) from two gzip IDX files; pixels scaled to [0, 1].
inline LabelledImages load_idx(const std::string& images_gz, const std::string& labels_gz) {
    const io::IdxArray images = io::read_idx_gz(images_gz);
    const io::IdxArray labels = io::read_idx_gz(labels_gz);
    require(images.shape.size() == 3, images_gz + ": expected N x H x W images, got rank " +
                                          std::to_string(images.shape.size()));
    require(labels.shape.size() == 1, labels_gz + ": expected a vector of labels, got rank " +
                                          std::to_string(labels.shape.size()));
    require(labels.shape[0] == images.shape[0], labels_gz + " holds " + std::to_string(labels.shape[0]) +
                                                    " labels but " + images_gz + " holds " +
                                                    std::to_string(images.shape[0]) + " images");
    LabelledImages out;
    out.images = Tensor4::from_shape({images.shape[0], std::size_t(1), images.shape[1], images.shape[2]});
    for (std::size_t i = 0; i < images.data.size(); ++i) out.images.data()[i] = float(images.data[i]) / 255.f;
    out.labels.assign(labels.data.begin(), labels.data.end());
    return out;
}

}  // namespace bagnet
