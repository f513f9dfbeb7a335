#pragma once
// A folder that outputs go into, made as `mkdir -p` makes it (with its missing parents)
// before any work. Until keep(), the destructor removes the folders it made, deepest first,
// so that work that fails leaves nothing behind; a folder that existed is never touched, and
// one that is not empty is not removed.
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "bagnet/error.hpp"
#include "bagnet/io/atomic_file.hpp"

namespace bagnet::io {

class OutputFolder {
public:
    explicit OutputFolder(const std::string& path) {
        require(!path.empty(), "an output folder name is empty");
        try {
            // Every prefix that ends before a '/', then the whole path.
            for (std::size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
                make(path, path.substr(0, end));
                if (end == std::string::npos) break;
            }
            require_writable_folder(path);
        } catch (...) {
            remove_made();
            throw;
        }
    }
    OutputFolder(const OutputFolder&) = delete;
    OutputFolder& operator=(const OutputFolder&) = delete;
    ~OutputFolder() {
        if (!kept_) remove_made();
    }

    // The work succeeded: the folders stay.
    void keep() { kept_ = true; }

private:
    void make(const std::string& path, const std::string& folder) {
        struct stat info {};
        if (::stat(folder.c_str(), &info) == 0) {
            require(S_ISDIR(info.st_mode), "cannot make the folder " + path + ": " + folder + " is a file");
            return;
        }
        if (::mkdir(folder.c_str(), 0777) == 0) made_.push_back(folder);
        else if (errno != EEXIST)  // another process may have made it meanwhile
            throw Error("cannot make the folder " + path + ": " + folder + ": " + std::strerror(errno));
    }

    void remove_made() {
        for (auto folder = made_.rbegin(); folder != made_.rend(); ++folder) ::rmdir(folder->c_str());
        made_.clear();
    }

    std::vector<std::string> made_;
    bool kept_ = false;
};

}  // namespace bagnet::io
