#pragma once
// Files bagnet writes (weights, checkpoints, arrays) appear whole or not at
// all: the content goes to a fresh temporary file in the same directory, is
// flushed to disk, and only then renamed over the destination. A crash, a full
// disk or an exception thrown by the writer leaves any old file untouched.
#include <bagnet/error.hpp>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <functional>
#include <ostream>
#include <random>
#include <streambuf>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace bagnet::io {

namespace detail {

// An output buffer over a POSIX file descriptor. Unlike std::ofstream it keeps
// the errno of a failed write (so "No space left on device" reaches the user)
// and leaves the descriptor open for fsync.
class DescriptorBuffer : public std::streambuf {
public:
    explicit DescriptorBuffer(int fd) : fd_(fd), buffer_(std::size_t{1} << 16) {
        setp(buffer_.data(), buffer_.data() + buffer_.size());
    }

    // errno of the first failed write, 0 while every write succeeded.
    int error() const { return error_; }

protected:
    int_type overflow(int_type ch) override {
        if (!drain()) return traits_type::eof();
        if (!traits_type::eq_int_type(ch, traits_type::eof())) {
            *pptr() = traits_type::to_char_type(ch);
            pbump(1);
        }
        return traits_type::not_eof(ch);
    }

    std::streamsize xsputn(const char* bytes, std::streamsize count) override {
        if (count < epptr() - pptr()) {
            traits_type::copy(pptr(), bytes, static_cast<std::size_t>(count));
            pbump(static_cast<int>(count));
            return count;
        }
        // Large blocks (tensor data) go straight to the file instead of through the buffer.
        if (!drain() || !write_all(bytes, static_cast<std::size_t>(count))) return 0;
        return count;
    }

    int sync() override { return drain() ? 0 : -1; }

private:
    bool drain() {
        const bool ok = write_all(pbase(), static_cast<std::size_t>(pptr() - pbase()));
        setp(buffer_.data(), buffer_.data() + buffer_.size());
        return ok;
    }

    bool write_all(const char* bytes, std::size_t count) {
        while (count > 0 && error_ == 0) {
            const ssize_t written = ::write(fd_, bytes, count);
            if (written < 0) {
                if (errno != EINTR) error_ = errno;
                continue;
            }
            bytes += written;
            count -= static_cast<std::size_t>(written);
        }
        return error_ == 0;
    }

    int fd_;
    std::vector<char> buffer_;
    int error_ = 0;
};

// A uniquely named file next to the destination, created exclusively like
// mkstemp does but with mode 0666 filtered by the umask (mkstemp's 0600 would
// make weights unreadable to other users). Removed on destruction unless renamed.
class TemporaryFile {
public:
    explicit TemporaryFile(const std::string& destination) {
        static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        std::random_device entropy;
        std::uniform_int_distribution<std::size_t> pick(0, sizeof(alphabet) - 2);
        for (int attempt = 0; attempt < 100 && fd_ < 0; ++attempt) {
            path_ = destination + ".tmp-";
            for (int i = 0; i < 6; ++i) path_ += alphabet[pick(entropy)];
            fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
            if (fd_ < 0 && errno != EEXIST) break;
        }
        if (fd_ < 0) fail(destination, "cannot create a temporary file next to it");
    }

    ~TemporaryFile() {
        if (fd_ >= 0) ::close(fd_);
        if (!renamed_) ::unlink(path_.c_str());
    }

    TemporaryFile(const TemporaryFile&) = delete;
    TemporaryFile& operator=(const TemporaryFile&) = delete;

    int descriptor() const { return fd_; }

    // Flushes to disk, closes and renames over `destination`.
    void commit(const std::string& destination) {
        // Without fsync a crash soon after the rename can leave an empty file under the new name.
        if (::fsync(fd_) != 0) fail(destination, "cannot flush to disk");
        const int closed = ::close(fd_);
        fd_ = -1;
        if (closed != 0) fail(destination, "cannot finish writing");
        if (::rename(path_.c_str(), destination.c_str()) != 0) fail(destination, "cannot replace it");
        renamed_ = true;
    }

    // `problem` is a C string so that building the message cannot touch errno before it is read.
    [[noreturn]] static void fail(const std::string& destination, const char* problem, int error = errno) {
        throw Error(destination + ": " + problem + ": " + std::generic_category().message(error));
    }

private:
    std::string path_;
    int fd_ = -1;
    bool renamed_ = false;
};

}  // namespace detail

// Checks, before any work is done, that a file can be created at `path`: its folder
// exists and is writable, and `path` itself is not a folder. (Finding out after an
// hour of training is too late.)
inline void require_writable(const std::string& path) {
    require(!path.empty(), "an output file name is empty");
    struct stat info {};
    require(::stat(path.c_str(), &info) != 0 || !S_ISDIR(info.st_mode), "cannot write " + path + ": it is a folder");
    const auto slash = path.rfind('/');
    const std::string folder = slash == std::string::npos ? "." : path.substr(0, std::max<std::size_t>(slash, 1));
    require(::stat(folder.c_str(), &info) == 0 && S_ISDIR(info.st_mode) && ::access(folder.c_str(), W_OK) == 0,
            "cannot write " + path + ": folder '" + folder + "' does not exist or is not writable");
}

// The same for a folder that outputs go into: it exists and is writable.
inline void require_writable_folder(const std::string& folder) {
    struct stat info {};
    require(::stat(folder.c_str(), &info) == 0 && S_ISDIR(info.st_mode) && ::access(folder.c_str(), W_OK) == 0,
            "cannot write into " + folder + ": it does not exist, is not a folder or is not writable");
}

// The outputs of one piece of work, published together: each is first written
// (whole, by any writer) under a staging name next to its destination, and
// commit() moves them all into place once every one of them has been written. If
// the work fails before that, the destructor removes the staged files and no
// destination has changed.
class OutputSet {
public:
    OutputSet() = default;
    OutputSet(const OutputSet&) = delete;
    OutputSet& operator=(const OutputSet&) = delete;
    ~OutputSet() {
        for (const auto& [staged, destination] : files_) ::unlink(staged.c_str());
    }

    // Checks that `destination` can be written and returns where to write it for now.
    std::string stage(const std::string& destination) {
        require_writable(destination);
        files_.emplace_back(destination + ".tmp-staged-" + std::to_string(::getpid()) + "-" +
                                std::to_string(files_.size()),
                            destination);
        return files_.back().first;
    }

    // Moves every staged file to its destination (a rename each: nothing is copied).
    void commit() {
        for (const auto& [staged, destination] : files_)
            if (::rename(staged.c_str(), destination.c_str()) != 0)
                detail::TemporaryFile::fail(destination, "cannot move the finished file into place");
        files_.clear();
    }

private:
    std::vector<std::pair<std::string, std::string>> files_;  // staged name, destination
};

// Calls `write` with a stream into a temporary file next to `path`, then
// atomically replaces `path` with it. Throws bagnet::Error naming `path` when
// anything fails; an exception thrown by `write` propagates unchanged. In both
// cases the temporary file is removed.
inline void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
    detail::TemporaryFile temporary(path);
    {
        detail::DescriptorBuffer buffer(temporary.descriptor());
        std::ostream out(&buffer);
        write(out);
        out.flush();
        if (!out)
            detail::TemporaryFile::fail(path, "cannot write", buffer.error() != 0 ? buffer.error() : EIO);
    }
    temporary.commit(path);
}

// Writes `text` to `path` atomically.
inline void write_text(const std::string& path, const std::string& text) {
    write_file_atomically(path, [&](std::ostream& out) { out << text; });
}

}  // namespace bagnet::io
