#pragma once
// The most informative patches of a class over a data set (the paper's analysis):
// the q x q patches with the highest class evidence among images of that class,
// and separately among images of other classes (what could fool the model).
//
// The data set is streamed batch by batch (bagnet/data/stream.hpp): memory holds a
// few batches and the k best patches so far (two bounded heaps per class),
// whatever the data set's size.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <xtensor/xview.hpp>

#include "bagnet/data/stream.hpp"
#include "bagnet/explain/geometry.hpp"
#include "bagnet/inference.hpp"
#include "bagnet/io/json.hpp"

namespace bagnet {

struct Patch {
    float score = 0;          // the class evidence of this patch
    std::size_t image = 0;    // its image's index in the data set
    std::string source;       // its image's name
    std::int64_t label = -1;  // its image's label
    int y = 0, x = 0;         // top-left pixel of the q x q patch in the image
    Tensor pixels;            // C x q x q input values
};

// Higher score first; ties broken by position so that results are reproducible.
inline bool ranks_before(const Patch& a, const Patch& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.image != b.image) return a.image < b.image;
    return a.y != b.y ? a.y < b.y : a.x < b.x;
}

struct TopPatches {
    int class_index = 0;
    std::vector<Patch> of_class;       // among images labelled class_index, best first
    std::vector<Patch> of_other_classes;
    std::size_t images = 0;            // how many images were scanned
};

// Keeps the k best patches seen so far, as a heap whose top is the worst kept.
class BoundedPatchHeap {
public:
    explicit BoundedPatchHeap(std::size_t k) : k_(k) {}

    // Whether a patch with this score and position would be kept (checked before
    // copying its pixels, which is the expensive part).
    bool would_keep(const Patch& candidate) const {
        return heap_.size() < k_ || ranks_before(candidate, heap_.front());
    }
    void push(Patch patch) {
        if (!would_keep(patch)) return;
        if (heap_.size() == k_) {
            std::pop_heap(heap_.begin(), heap_.end(), ranks_before);
            heap_.pop_back();
        }
        heap_.push_back(std::move(patch));
        std::push_heap(heap_.begin(), heap_.end(), ranks_before);
    }
    std::vector<Patch> best_first() const {
        std::vector<Patch> sorted = heap_;
        std::sort(sorted.begin(), sorted.end(), ranks_before);
        return sorted;
    }

private:
    std::size_t k_;
    std::vector<Patch> heap_;  // std heap ordered by ranks_before: front() ranks last
};

// Streams one epoch (epoch 0) of the stream for several classes at a time (one
// forward pass per batch serves them all); StreamOptions::in_order visits every
// image once. Patches are the logit map's: the q x q patches at the output-stride grid.
template <class Backend>
std::vector<TopPatches> top_patches(const Model<Backend>& model, data::BatchStream& stream,
                                    const std::vector<int>& classes, std::size_t k) {
    const Architecture& arch = model.architecture();
    require(!classes.empty(), "no class to find patches of");
    for (int c : classes)
        require(c >= 0 && c < arch.classes(), "class " + std::to_string(c) + " is out of range: " + arch.name + " has " +
                                                  std::to_string(arch.classes()) + " classes (0.." +
                                                  std::to_string(arch.classes() - 1) + ")");
    require(k >= 1, "the number of patches must be at least 1");
    const int q = arch.patch_size, stride = output_stride(arch);
    std::vector<BoundedPatchHeap> of_class(classes.size(), BoundedPatchHeap(k)), of_others = of_class;
    std::size_t images = 0;
    for (std::size_t b = 0; b < stream.batches_per_epoch(); ++b) {
        const data::Batch batch = stream.batch(0, b);
        if (batch.labels.empty()) continue;
        const Tensor4 map = logit_map(model, batch.images);
        for (std::size_t n = 0; n < map.shape()[0]; ++n)
            for (std::size_t c = 0; c < classes.size(); ++c) {
                BoundedPatchHeap& heap = batch.labels[n] == classes[c] ? of_class[c] : of_others[c];
                for (std::size_t i = 0; i < map.shape()[1]; ++i)
                    for (std::size_t j = 0; j < map.shape()[2]; ++j) {
                        Patch patch;
                        patch.score = map(n, i, j, std::size_t(classes[c]));
                        patch.image = batch.indices[n];
                        patch.y = int(i) * stride;
                        patch.x = int(j) * stride;
                        if (!heap.would_keep(patch)) continue;
                        patch.label = batch.labels[n];
                        patch.source = stream.dataset().name(patch.image);
                        patch.pixels = xt::view(batch.images, n, xt::all(), xt::range(patch.y, patch.y + q),
                                                xt::range(patch.x, patch.x + q));
                        heap.push(std::move(patch));
                    }
            }
        images += map.shape()[0];
    }
    require(images > 0, "the data set is empty: no images to find patches in");
    std::vector<TopPatches> result(classes.size());
    for (std::size_t c = 0; c < classes.size(); ++c)
        result[c] = {classes[c], of_class[c].best_first(), of_others[c].best_first(), images};
    return result;
}

template <class Backend>
TopPatches top_patches(const Model<Backend>& model, data::BatchStream& stream, int class_index, std::size_t k) {
    return top_patches(model, stream, std::vector<int>{class_index}, k).front();
}

// The listing as JSON (without pixels).
inline std::string to_json(const TopPatches& top, const std::string& class_name) {
    const auto list = [](const std::vector<Patch>& patches) {
        std::string out = "[";
        for (std::size_t i = 0; i < patches.size(); ++i) {
            const Patch& p = patches[i];
            out += std::string(i ? ",\n    " : "\n    ") + "{\"score\": " + io::json_number(p.score) +
                   ", \"image\": " + std::to_string(p.image) + ", \"source\": " + io::json_string(p.source) +
                   ", \"label\": " + std::to_string(p.label) + ", \"y\": " + std::to_string(p.y) +
                   ", \"x\": " + std::to_string(p.x) + "}";
        }
        return out + (patches.empty() ? "]" : "\n  ]");
    };
    return "{\n  \"class\": " + std::to_string(top.class_index) + ",\n  \"class_name\": " + io::json_string(class_name) +
           ",\n  \"images_scanned\": " + std::to_string(top.images) + ",\n  \"of_class\": " + list(top.of_class) +
           ",\n  \"of_other_classes\": " + list(top.of_other_classes) + "\n}\n";
}

}  // namespace bagnet
