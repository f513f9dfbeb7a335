#pragma once
// A whole file mapped read-only into memory. Weight and data files are read
// through a mapping so that opening a large file costs no copy and parsers see
// one bounded byte range that they can check every offset against.
#include <bagnet/error.hpp>

#include <cerrno>
#include <cstddef>
#include <string>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace bagnet::io {

class MappedFile {
public:
    explicit MappedFile(const std::string& path) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw Error(path + ": cannot open: " + system_reason());
        struct stat info {};
        if (::fstat(fd, &info) != 0) close_and_fail(path, fd, "cannot stat: " + system_reason());
        if (S_ISDIR(info.st_mode)) close_and_fail(path, fd, "is a directory, not a file");
        if (!S_ISREG(info.st_mode)) close_and_fail(path, fd, "is not a regular file");
        size_ = static_cast<std::size_t>(info.st_size);
        // mmap rejects zero lengths; an empty file is simply an empty range.
        if (size_ > 0) {
            void* mapping = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (mapping == MAP_FAILED) close_and_fail(path, fd, "cannot map into memory: " + system_reason());
            data_ = static_cast<const unsigned char*>(mapping);
        }
        ::close(fd);  // the mapping keeps the file alive
    }

    ~MappedFile() { unmap(); }

    MappedFile(MappedFile&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

    MappedFile& operator=(MappedFile&& other) noexcept {
        if (this != &other) {
            unmap();
            data_ = std::exchange(other.data_, nullptr);
            size_ = std::exchange(other.size_, 0);
        }
        return *this;
    }

    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const unsigned char* data() const { return data_; }
    std::size_t size() const { return size_; }

private:
    static std::string system_reason() { return std::generic_category().message(errno); }

    [[noreturn]] static void close_and_fail(const std::string& path, int fd, const std::string& problem) {
        ::close(fd);
        throw Error(path + ": " + problem);
    }

    void unmap() {
        if (data_ != nullptr) ::munmap(const_cast<unsigned char*>(data_), size_);
        data_ = nullptr;
        size_ = 0;
    }

    const unsigned char* data_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace bagnet::io
