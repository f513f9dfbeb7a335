#pragma once
// Image folders in the ImageNet layout: DIR/<class>/<image>.png|jpg, one
// sub-folder per class, classes numbered in sorted folder-name order. Images are
// decoded (on as many threads as asked) with the standard preprocessing (shorter
// side resized, centre crop, per-channel normalisation) into memory.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <future>
#include <string>
#include <vector>

#include "bagnet/io/idx.hpp"
#include "bagnet/io/image.hpp"

namespace bagnet {

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
        require(!images.empty(), path.string() + ": class folder holds no PNG or JPEG images");
        std::sort(images.begin(), images.end());
        folder.labels.insert(folder.labels.end(), images.size(), std::int64_t(folder.class_names.size()));
        folder.files.insert(folder.files.end(), images.begin(), images.end());
        folder.class_names.push_back(path.filename().string());
    }
    return folder;
}

struct ImageFolderOptions {
    int resize = 256;   // shorter side, before the crop
    int crop = 224;     // centre crop, crop x crop
    int channels = 3;
    std::vector<float> mean = io::imagenet_mean, stddev = io::imagenet_stddev;
    bool skip_corrupt = false;  // skip undecodable files with a warning on stderr (else: an error)
    int threads = 2;            // decoding threads
};

struct LoadedImageFolder {
    LabelledImages data;
    std::vector<std::string> class_names;  // index = label
};

inline LoadedImageFolder load_image_folder(const std::string& dir, const ImageFolderOptions& options = {}) {
    const ImageFolder listing = scan_image_folder(dir);
    LoadedImageFolder folder;
    folder.class_names = listing.class_names;
    std::vector<std::pair<std::string, std::int64_t>> files;
    for (std::size_t i = 0; i < listing.files.size(); ++i) files.emplace_back(listing.files[i], listing.labels[i]);
    auto decode = [&](const std::string& path) -> Tensor {
        const io::Image resized = io::resize_shorter_side(io::load_image(path, options.channels), options.resize);
        return io::normalize_to_chw(io::center_crop(resized, options.crop, options.crop), options.mean, options.stddev);
    };
    // Decode in parallel, each thread a contiguous share of the files; errors are kept per file.
    std::vector<Tensor> decoded(files.size());
    std::vector<std::string> failures(files.size());
    const std::size_t threads = std::size_t(std::max(1, options.threads));
    std::vector<std::future<void>> workers;
    for (std::size_t t = 0; t < threads; ++t)
        workers.push_back(std::async(std::launch::async, [&, t] {
            for (std::size_t i = t; i < files.size(); i += threads) try {
                    decoded[i] = decode(files[i].first);
                } catch (const std::exception& e) {
                    failures[i] = e.what();
                }
        }));
    for (auto& worker : workers) worker.get();
    std::vector<std::size_t> kept;
    for (std::size_t i = 0; i < files.size(); ++i) {
        if (failures[i].empty()) {
            kept.push_back(i);
            continue;
        }
        require(options.skip_corrupt, failures[i] + " (skip undecodable images with --skip-corrupt)");
        std::fprintf(stderr, "bagnet: warning: skipping %s: %s\n", files[i].first.c_str(), failures[i].c_str());
    }
    require(!kept.empty(), dir + ": no image could be decoded");
    const std::size_t per_image = std::size_t(options.channels) * std::size_t(options.crop) * std::size_t(options.crop);
    folder.data.images = Tensor4::from_shape(
        {kept.size(), std::size_t(options.channels), std::size_t(options.crop), std::size_t(options.crop)});
    for (std::size_t k = 0; k < kept.size(); ++k) {
        std::copy(decoded[kept[k]].data(), decoded[kept[k]].data() + per_image, folder.data.images.data() + k * per_image);
        folder.data.labels.push_back(files[kept[k]].second);
    }
    return folder;
}

}  // namespace bagnet
