// libFuzzer target for the IDX reader behind Fashion-MNIST: any bytes (gzip or
// not) either read as an IDX array, and a rank-3 one as images with matching
// labels, or are rejected with a one-line bagnet::Error. The reader takes a
// path (zlib's gz* functions read files), so each input is written to a scratch
// file first. Build and run: see tests/fuzz/README.md.
#include <bagnet/io/idx.hpp>

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzzing.hpp"

namespace {

// A file of its own in $TMPDIR (else /tmp) for this process, removed at exit.
struct ScratchFile {
    std::string path;
    explicit ScratchFile(const char* suffix) {
        const char* dir = std::getenv("TMPDIR");
        path = std::string(dir && *dir ? dir : "/tmp") + "/bagnet-fuzz-" + std::to_string(::getpid()) + suffix;
    }
    ~ScratchFile() { std::remove(path.c_str()); }
    void write(const void* data, std::size_t size) const {
        std::FILE* file = std::fopen(path.c_str(), "wb");
        if (file == nullptr || std::fwrite(data, 1, size, file) != size || std::fclose(file) != 0) std::abort();
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const ScratchFile images(".idx.gz"), labels("-labels.idx");
    images.write(data, size);
    bagnet::fuzzing::expect_result_or_error([&] {
        const bagnet::io::IdxArray array = bagnet::io::read_idx_gz(images.path);
        if (array.shape.size() != 3) return;
        // As many labels as the file holds images: an uncompressed rank-1 IDX file of zeros.
        const std::uint32_t count = std::uint32_t(array.shape[0]);
        const unsigned char header[8] = {0, 0, 8, 1, std::uint8_t(count >> 24), std::uint8_t(count >> 16),
                                         std::uint8_t(count >> 8), std::uint8_t(count)};
        std::string bytes(reinterpret_cast<const char*>(header), sizeof header);
        bytes.resize(sizeof header + count);
        labels.write(bytes.data(), bytes.size());
        const bagnet::LabelledImages loaded = bagnet::load_idx(images.path, labels.path);
        if (loaded.labels.size() != count || loaded.images.size() != array.data.size()) __builtin_trap();
    });
    return 0;
}
