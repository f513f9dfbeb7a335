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
#include "bagnet/distributed/shard.hpp"
#include "bagnet/explain/geometry.hpp"
#include "bagnet/inference.hpp"
#include "bagnet/instances.hpp"
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

namespace detail {

inline void require_patch_classes(const Architecture& arch, const std::vector<int>& classes, std::size_t k) {
    require(!classes.empty(), "no class to find patches of");
    for (int c : classes)
        require(c >= 0 && c < arch.classes(), "class " + std::to_string(c) + " is out of range: " + arch.name + " has " +
                                                  std::to_string(arch.classes()) + " classes (0.." +
                                                  std::to_string(arch.classes() - 1) + ")");
    require(k >= 1, "the number of patches must be at least 1");
}

// The best patches so far of every class: among images of the class, and among the others.
struct PatchHeaps {
    std::vector<BoundedPatchHeap> of_class, of_others;
    std::size_t images = 0;
    PatchHeaps(std::size_t classes, std::size_t k) : of_class(classes, BoundedPatchHeap(k)), of_others(of_class) {}

    std::vector<TopPatches> result(const std::vector<int>& classes) const {
        require(images > 0, "the data set is empty: no images to find patches in");
        std::vector<TopPatches> out(classes.size());
        for (std::size_t c = 0; c < classes.size(); ++c)
            out[c] = {classes[c], of_class[c].best_first(), of_others[c].best_first(), images};
        return out;
    }
};

// Adds one batch's patches (batch.indices index `data`, which names them).
template <class Backend>
void add_patches(const Model<Backend>& model, const data::Batch& batch, const data::Dataset& data,
                 const std::vector<int>& classes, PatchHeaps& heaps) {
    if (batch.labels.empty()) return;
    const int q = model.architecture().patch_size, stride = output_stride(model.architecture());
    const Tensor4 map = logit_map(model, batch.images);
    for (std::size_t n = 0; n < map.shape()[0]; ++n)
        for (std::size_t c = 0; c < classes.size(); ++c) {
            BoundedPatchHeap& heap = batch.labels[n] == classes[c] ? heaps.of_class[c] : heaps.of_others[c];
            for (std::size_t i = 0; i < map.shape()[1]; ++i)
                for (std::size_t j = 0; j < map.shape()[2]; ++j) {
                    Patch patch;
                    patch.score = map(n, i, j, std::size_t(classes[c]));
                    patch.image = batch.indices[n];
                    patch.y = int(i) * stride;
                    patch.x = int(j) * stride;
                    if (!heap.would_keep(patch)) continue;
                    patch.label = batch.labels[n];
                    patch.source = data.name(patch.image);
                    patch.pixels = xt::view(batch.images, n, xt::all(), xt::range(patch.y, patch.y + q),
                                            xt::range(patch.x, patch.x + q));
                    heap.push(std::move(patch));
                }
        }
    heaps.images += map.shape()[0];
}

inline void write_patches(distributed::Writer& out, const std::vector<Patch>& patches) {
    out.number(std::uint64_t(patches.size()));
    for (const Patch& p : patches)
        out.number(p.score).number(std::uint64_t(p.image)).text(p.source).number(p.label).number(p.y).number(p.x).tensor(
            p.pixels);
}

inline void read_patches(distributed::Reader& in, BoundedPatchHeap& heap) {
    for (auto count = in.number<std::uint64_t>(); count > 0; --count) {
        Patch p;
        p.score = in.number<float>();
        p.image = std::size_t(in.number<std::uint64_t>());
        p.source = in.text();
        p.label = in.number<std::int64_t>();
        p.y = in.number<int>();
        p.x = in.number<int>();
        p.pixels = in.tensor();
        heap.push(std::move(p));
    }
}

}  // namespace detail

// Streams one epoch (epoch 0) of the stream for several classes at a time (one
// forward pass per batch serves them all); StreamOptions::in_order visits every
// image once. Patches are the logit map's: the q x q patches at the output-stride grid.
template <class Backend>
std::vector<TopPatches> top_patches(const Model<Backend>& model, data::BatchStream& stream,
                                    const std::vector<int>& classes, std::size_t k) {
    detail::require_patch_classes(model.architecture(), classes, k);
    detail::PatchHeaps heaps(classes.size(), k);
    for (std::size_t b = 0; b < stream.batches_per_epoch(); ++b)
        detail::add_patches(model, stream.batch(0, b), stream.dataset(), classes, heaps);
    return heaps.result(classes);
}

// The same with the data set's batches shared between processes
// (distributed/shard.hpp); the result, on the
// first process, is exactly one process's: the k best of every batch's k best, in
// the same total order (ties broken by position). Empty on the other processes.
template <class Backend>
std::vector<TopPatches> top_patches(const Model<Backend>& model, const data::Dataset& data,
                                    const std::vector<int>& classes, std::size_t k,
                                    const distributed::ShardOptions& options, distributed::Communicator& processes) {
    detail::require_patch_classes(model.architecture(), classes, k);
    const auto parts = distributed::map_batches(data, options, processes, [&](const data::Batch& images) {
        detail::PatchHeaps heaps(classes.size(), k);
        detail::add_patches(model, images, data, classes, heaps);
        distributed::Writer out;
        out.number(std::uint64_t(heaps.images));
        for (std::size_t c = 0; c < classes.size(); ++c) {
            detail::write_patches(out, heaps.of_class[c].best_first());
            detail::write_patches(out, heaps.of_others[c].best_first());
        }
        return out.bytes();
    });
    if (!processes.is_root()) return {};
    detail::PatchHeaps heaps(classes.size(), k);
    for (const std::string& part : parts) {
        distributed::Reader in(part);
        heaps.images += std::size_t(in.number<std::uint64_t>());
        for (std::size_t c = 0; c < classes.size(); ++c) {
            detail::read_patches(in, heaps.of_class[c]);
            detail::read_patches(in, heaps.of_others[c]);
        }
    }
    return heaps.result(classes);
}

template <class Backend>
TopPatches top_patches(const Model<Backend>& model, data::BatchStream& stream, int class_index, std::size_t k) {
    return top_patches(model, stream, std::vector<int>{class_index}, k).front();
}

// The listing as JSON (without pixels).
inline std::string to_json(const TopPatches& top, const std::string& class_name) {
    const auto list = [](const std::vector<Patch>& patches) {
        io::Json out = io::Json::array();
        for (const Patch& p : patches)
            out.push_back({{"score", p.score},
                           {"image", p.image},
                           {"source", p.source},
                           {"label", p.label},
                           {"y", p.y},
                           {"x", p.x}});
        return out;
    };
    return io::json_text({{"class", top.class_index},
                          {"class_name", class_name},
                          {"images_scanned", top.images},
                          {"of_class", list(top.of_class)},
                          {"of_other_classes", list(top.of_other_classes)}});
}

// Built once in bagnet::compiled (bagnet/instances.hpp).
#define BAGNET_TOP_PATCHES_INSTANCES(prefix, Backend)                                                        \
    prefix std::vector<TopPatches> top_patches<Backend>(const Model<Backend>&, data::BatchStream&,           \
        const std::vector<int>&, std::size_t);                                                               \
    prefix std::vector<TopPatches> top_patches<Backend>(const Model<Backend>&, const data::Dataset&,         \
        const std::vector<int>&, std::size_t, const distributed::ShardOptions&, distributed::Communicator&); \
    prefix TopPatches top_patches<Backend>(const Model<Backend>&, data::BatchStream&, int, std::size_t);
BAGNET_EXTERN_INSTANCES(BAGNET_TOP_PATCHES_INSTANCES)

}  // namespace bagnet
