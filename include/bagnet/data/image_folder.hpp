#pragma once
// Image files as a data set. An image folder has the ImageNet layout
// DIR/<class>/<image>.png|jpg|jpeg, one sub-folder per class, classes numbered
// in sorted folder-name order; only the file list is held in memory, and each
// image is decoded (libpng, libjpeg-turbo) and transformed when it is loaded.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "bagnet/data/dataset.hpp"
#include "bagnet/data/transforms.hpp"
#include "bagnet/io/image.hpp"

namespace bagnet::data {

// The files of an image folder and their labels, listed but not decoded.
struct ImageFolder {
    std::vector<std::string> class_names;  // label -> sub-folder name
    std::vector<std::string> files;
    std::vector<std::int64_t> labels;
};

inline ImageFolder scan_image_folder(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code error;
    require(fs::is_directory(dir, error), dir + ": no such directory");
    std::vector<fs::path> classes;
    for (const auto& entry : fs::directory_iterator(dir, error))
        if (entry.is_directory()) classes.push_back(entry.path());
    require(!error, dir + ": cannot list (" + error.message() + ")");
    std::sort(classes.begin(), classes.end());
    require(!classes.empty(), dir + ": has no class sub-folders (expected DIR/<class>/<image>)");
    ImageFolder folder;
    for (const auto& path : classes) {
        std::vector<std::string> images;
        for (const auto& entry : fs::directory_iterator(path, error)) {
            std::string ext = entry.path().extension().string();
            std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
            if (entry.is_regular_file() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg"))
                images.push_back(entry.path().string());
        }
        require(!error, path.string() + ": cannot list (" + error.message() + ")");
        require(!images.empty(), path.string() + ": class folder holds no PNG or JPEG images");
        std::sort(images.begin(), images.end());
        folder.labels.insert(folder.labels.end(), images.size(), std::int64_t(folder.class_names.size()));
        folder.files.insert(folder.files.end(), images.begin(), images.end());
        folder.class_names.push_back(path.filename().string());
    }
    return folder;
}

// Image files named one by one (no labels: -1).
inline ImageFolder image_files(const std::vector<std::string>& paths) {
    require(!paths.empty(), "no image files given");
    return {{}, paths, std::vector<std::int64_t>(paths.size(), -1)};
}

class ImageFolderDataset : public Dataset {
public:
    ImageFolderDataset(ImageFolder folder, ImageTransform transform, io::DecodeOptions decode = {})
        : folder_(std::move(folder)), transform_(std::move(transform)), decode_(decode) {
        require(folder_.files.size() == folder_.labels.size(), "an image folder needs one label per file");
        require(transform_.size >= 1, "the image size must be at least 1");
    }

    std::size_t size() const override { return folder_.files.size(); }
    std::int64_t label(std::size_t index) const override { return folder_.labels[index]; }
    std::string name(std::size_t index) const override { return folder_.files[index]; }
    ItemShape shape() const override {
        return {std::size_t(transform_.channels), std::size_t(transform_.size), std::size_t(transform_.size)};
    }
    void load(std::size_t index, Random& rng, float* out) const override {
        const std::string& path = folder_.files[index];
        transform_.apply(io::load_image(path, transform_.channels, decode_), rng, out, path);
    }
    const std::vector<std::string>& class_names() const override { return folder_.class_names; }
    const ImageFolder& folder() const { return folder_; }

private:
    ImageFolder folder_;
    ImageTransform transform_;
    io::DecodeOptions decode_;
};

}  // namespace bagnet::data
