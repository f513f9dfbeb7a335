#pragma once
// Where a program's images come from, described once for every front end (each command of
// the CLI reads its images through one Source): exactly one of
//   arrays  a float32 N x C x H x W npy file of normalised images, with an int64 npy file of
//           their labels, or without one (every image then gets `label`)
//   named   a data set bagnet knows: "fashion-mnist" (Debian's dataset-fashion-mnist), its
//           "train" or "test" split
//   folder  DIR/<class>/<image>.png|jpg, labelled by sub-folder
//   files   image files, each labelled `label`
// and of those the first `limit` images. SourceData opens one as a Dataset. Folders and files
// are decoded as their images are needed (memory does not grow with their number), made
// `size` pixels square by ImageNet's evaluation transform, or when training by
// `folder_transform`.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bagnet/data/dataset.hpp"
#include "bagnet/data/fashion_mnist.hpp"
#include "bagnet/data/image_folder.hpp"
#include "bagnet/data/tensor_dataset.hpp"
#include "bagnet/data/transforms.hpp"
#include "bagnet/error.hpp"
#include "bagnet/io/image.hpp"
#include "bagnet/io/image_data.hpp"
#include "bagnet/io/npy.hpp"

namespace bagnet::data {

// How a folder's images become `size` pixels square for training: ImageNet's
// RandomResizedCrop and flip, the evaluation transform (resize the shorter side to 8/7 of
// the size, crop the centre), or none (the images are that size already).
enum class FolderTransform { augmented, center, none };

// The data sets a Source can name.
inline const std::vector<std::string>& named_datasets() {
    static const std::vector<std::string> names{"fashion-mnist"};
    return names;
}

class Source {
public:
    enum class Kind { arrays, named, folder, files };

    static Source arrays(std::string images_npy, std::string labels_npy = "") {
        Source s(Kind::arrays, std::move(images_npy));
        s.labels_npy_ = std::move(labels_npy);
        return s;
    }
    static Source named(std::string name, std::string split = "test") {
        Source s(Kind::named, std::move(name));
        s.split_ = std::move(split);
        return s;
    }
    static Source folder(std::string dir) { return Source(Kind::folder, std::move(dir)); }
    static Source files(std::vector<std::string> paths) {
        Source s(Kind::files, paths.empty() ? "" : paths.front());
        s.files_ = std::move(paths);
        return s;
    }

    Source& label(std::int64_t value) { label_ = value; return *this; }
    Source& limit(std::size_t value) { limit_ = value; return *this; }
    Source& size(int value) { size_ = value; return *this; }
    Source& folder_transform(FolderTransform value) { folder_transform_ = value; return *this; }
    Source& decode(io::DecodeOptions value) { decode_ = value; return *this; }

    Kind kind() const { return kind_; }
    // The npy file, the data set's name, the folder or the first image file.
    const std::string& path() const { return path_; }
    const std::string& labels_npy() const { return labels_npy_; }
    const std::string& split() const { return split_; }
    const std::vector<std::string>& image_files() const { return files_; }
    std::int64_t label() const { return label_; }
    std::size_t limit() const { return limit_; }
    int size() const { return size_; }
    FolderTransform folder_transform() const { return folder_transform_; }
    const io::DecodeOptions& decode() const { return decode_; }
    // What messages and reports call the data.
    std::string name() const { return path_; }

    // One line naming the first problem, before anything is read.
    void validate() const {
        require(!path_.empty(), kind_ == Kind::files ? "no image files given" : "the data source names no file");
        if (kind_ == Kind::named) {
            require(path_ == named_datasets().front(),
                    "unknown dataset '" + path_ + "' (expected " + listed(named_datasets(), "or") + ")");
            require(split_ == "train" || split_ == "test", "unknown split '" + split_ + "' (expected train or test)");
        }
        require(label_ >= -1, "the label must be a class index, got " + std::to_string(label_));
        require(label_ < 0 || kind_ == Kind::files || (kind_ == Kind::arrays && labels_npy_.empty()),
                "a label is for images given without labels (image files, or arrays without a labels file)");
        require(size_ >= 8 && size_ <= 4096, "the image size must be 8 to 4096 pixels, got " + std::to_string(size_));
    }

private:
    Source(Kind kind, std::string path) : kind_(kind), path_(std::move(path)) {}

    Kind kind_;
    std::string path_, labels_npy_, split_;
    std::vector<std::string> files_;
    std::int64_t label_ = -1;
    std::size_t limit_ = 0;  // 0: every image
    int size_ = 224;
    FolderTransform folder_transform_ = FolderTransform::augmented;
    io::DecodeOptions decode_;
};

// What the images are for: evaluation and analyses see them as they are; training sees
// arrays and named sets through `augment` and folders through the source's folder transform.
enum class Use { evaluation, training };

// The images a Source describes, as a Dataset. Holds what it read (npy arrays, a split of
// Fashion-MNIST), which its data set refers to: built in place, never moved.
class SourceData {
public:
    explicit SourceData(const Source& source, Use use = Use::evaluation, const TensorAugment& augment = {})
        : name_(source.name()) {
        source.validate();
        const TensorAugment augmented = use == Use::training ? augment : TensorAugment();
        switch (source.kind()) {
        case Source::Kind::arrays: {
            arrays_.images = io::load_npy_images(source.path());
            const std::size_t n = arrays_.images.shape()[0];
            arrays_.labels = !source.labels_npy().empty() ? io::load_npy_int64(source.labels_npy())
                                                          : std::vector<std::int64_t>(n, source.label());
            require(arrays_.labels.size() == n, source.labels_npy() + " holds " + std::to_string(arrays_.labels.size()) +
                                                    " labels but " + source.path() + " holds " + std::to_string(n) +
                                                    " images");
            all_ = std::make_unique<TensorDataset>(arrays_, augmented, source.path());
            break;
        }
        case Source::Kind::named:
            all_ = std::make_unique<FashionMnist>(source.split(), augmented);
            mean_ = {fashion_mnist_mean};
            stddev_ = {fashion_mnist_std};
            break;
        case Source::Kind::folder: open_images(source, scan_image_folder(source.path()), use); break;
        case Source::Kind::files: {
            ImageFolder listing = data::image_files(source.image_files());
            listing.labels.assign(listing.files.size(), source.label());
            open_images(source, std::move(listing), use);
            break;
        }
        }
        set_ = std::make_unique<FirstItems>(*all_, source.limit() > 0 ? source.limit() : all_->size());
    }
    SourceData(const SourceData&) = delete;
    SourceData& operator=(const SourceData&) = delete;

    const Dataset& set() const { return *set_; }
    const std::string& name() const { return name_; }
    // The per-channel mean and standard deviation the images were normalised with, where the
    // source says (named sets, folders and files); empty for arrays.
    const std::vector<float>& mean() const { return mean_; }
    const std::vector<float>& stddev() const { return stddev_; }

private:
    void open_images(const Source& source, ImageFolder listing, Use use) {
        const FolderTransform kind = use == Use::training ? source.folder_transform() : FolderTransform::center;
        ImageTransform transform = kind == FolderTransform::augmented ? ImageTransform::imagenet_train(source.size())
                                   : kind == FolderTransform::none    ? ImageTransform::unchanged(source.size())
                                                                      : ImageTransform::imagenet_eval(source.size());
        all_ = std::make_unique<ImageFolderDataset>(std::move(listing), std::move(transform), source.decode());
        mean_ = io::imagenet_mean;
        stddev_ = io::imagenet_stddev;
    }

    std::string name_;
    LabelledImages arrays_;
    std::unique_ptr<Dataset> all_, set_;
    std::vector<float> mean_, stddev_;
};

}  // namespace bagnet::data
