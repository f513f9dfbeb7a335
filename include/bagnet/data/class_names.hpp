#pragma once
// The names of a model's classes, for reports and pictures: the data set's own
// (Fashion-MNIST's, an image folder's sub-folders) where it names as many classes
// as the model has, else ImageNet's for a model with ImageNet's 1000 classes,
// else "class 3".
#include <string>
#include <vector>

#include "bagnet/error.hpp"
#include "bagnet/io/imagenet_classes.hpp"

namespace bagnet::data {

class ClassNames {
public:
    explicit ClassNames(int classes, std::vector<std::string> dataset_names = {})
        : classes_(classes), names_(std::move(dataset_names)) {
        if (names_.size() != std::size_t(classes)) names_.clear();
    }

    // "T-shirt/top", "tabby", "class 3".
    std::string name(int index) const {
        require(index >= 0 && index < classes_, "class " + std::to_string(index) + " is out of range for a model with " +
                                                    std::to_string(classes_) + " classes");
        if (!names_.empty()) return names_[std::size_t(index)];
        if (imagenet()) return std::string(io::imagenet_class_name(index));
        return "class " + std::to_string(index);
    }

    // The name, with the index before ImageNet's names, some of which repeat
    // (two kinds of "crane", two of "maillot"): "281 tabby".
    std::string label(int index) const {
        return names_.empty() && imagenet() ? std::to_string(index) + " " + name(index) : name(index);
    }

private:
    bool imagenet() const { return std::size_t(classes_) == io::imagenet_class_count; }

    int classes_;
    std::vector<std::string> names_;
};

}  // namespace bagnet::data
