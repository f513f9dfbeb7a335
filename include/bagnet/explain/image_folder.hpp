#pragma once
// A labelled image folder as a data set for streaming analyses: DIR/<class>/<image>,
// one subfolder per class, labels numbered in sorted subfolder order (torchvision's
// ImageFolder convention). Images are decoded batch by batch, never all at once.
#include <algorithm>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "bagnet/explain/top_patches.hpp"
#include "bagnet/io/image.hpp"

namespace bagnet {

struct ImageFolder {
    std::vector<std::string> class_names;  // label -> subfolder name
    std::vector<std::string> files;
    std::vector<std::int64_t> labels;
};

inline ImageFolder scan_image_folder(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code error;
    require(fs::is_directory(dir, error), "image folder '" + dir + "' does not exist or is not a folder");
    ImageFolder folder;
    for (const auto& entry : fs::directory_iterator(dir, error))
        if (entry.is_directory()) folder.class_names.push_back(entry.path().filename().string());
    std::sort(folder.class_names.begin(), folder.class_names.end());
    for (std::size_t label = 0; label < folder.class_names.size(); ++label) {
        std::vector<std::string> files;
        for (const auto& entry : fs::directory_iterator(fs::path(dir) / folder.class_names[label], error)) {
            std::string extension = entry.path().extension().string();
            std::transform(extension.begin(), extension.end(), extension.begin(), [](unsigned char c) { return char(std::tolower(c)); });
            if (entry.is_regular_file() && (extension == ".png" || extension == ".jpg" || extension == ".jpeg"))
                files.push_back(entry.path().string());
        }
        std::sort(files.begin(), files.end());
        folder.files.insert(folder.files.end(), files.begin(), files.end());
        folder.labels.insert(folder.labels.end(), files.size(), std::int64_t(label));
    }
    require(!folder.files.empty(), "image folder '" + dir + "' holds no PNG or JPEG images in class subfolders (DIR/<class>/<image>)");
    return folder;
}

// Batches of the folder's images, each preprocessed by `preprocess` (ImageNet's by default).
inline BatchSource image_folder_batches(const ImageFolder& folder, std::size_t batch_size,
                                        std::function<Tensor(const std::string&)> preprocess = io::imagenet_preprocess) {
    require(batch_size >= 1, "the batch size must be at least 1");
    return [&folder, batch_size, preprocess, next = std::size_t(0)](LabelledBatch& batch) mutable {
        if (next >= folder.files.size()) return false;
        const std::size_t end = std::min(folder.files.size(), next + batch_size);
        batch.names.assign(folder.files.begin() + std::ptrdiff_t(next), folder.files.begin() + std::ptrdiff_t(end));
        batch.labels.assign(folder.labels.begin() + std::ptrdiff_t(next), folder.labels.begin() + std::ptrdiff_t(end));
        batch.x = Tensor4(io::load_images_batch(batch.names, preprocess));
        next = end;
        return true;
    };
}

}  // namespace bagnet
