#pragma once
// A labelled image folder (bagnet/io/image_folder.hpp) as a data set for streaming
// analyses: images are decoded batch by batch, never all at once.
#include <algorithm>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "bagnet/explain/top_patches.hpp"
#include "bagnet/io/image.hpp"
#include "bagnet/io/image_folder.hpp"

namespace bagnet {

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
