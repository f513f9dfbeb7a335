#pragma once
// Which oneDNN implementation every primitive this process created runs.
//
// oneDNN picks a kernel per primitive and per CPU, and where it has no JIT kernel
// for a shape or layout it falls back to a reference one ("ref:any") that is one
// or two orders of magnitude slower. That fallback exists only on some CPUs (the
// logit map's head once ran on it on AVX2 machines only), so the cpu backend
// records every choice: the tests fail on any `ref` implementation under every
// instruction set the machine can imitate (ONEDNN_MAX_CPU_ISA), and `bagnet bench`
// can print the list.
#include <oneapi/dnnl/dnnl_debug.h>
#include <dnnl.hpp>

#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace bagnet::backend::cpu {

struct KernelChoice {
    std::string primitive;       // "convolution forward_inference", "reorder", ...
    std::string shapes;          // "src 8x256x56x56 f32, weights ..., dst ..."
    std::string implementation;  // oneDNN's name: "jit:avx2", "brg:avx512_core", "ref:any", ...

    bool is_reference() const { return implementation.rfind("ref", 0) == 0; }
    bool operator<(const KernelChoice& o) const {
        return std::tie(primitive, shapes, implementation) <
               std::tie(o.primitive, o.shapes, o.implementation);
    }
};

// Every distinct choice, once. Bounded: a process that meets ever new shapes keeps
// the first `capacity` (enough for every plan of a long analysis).
class KernelLog {
public:
    static KernelLog& get() {
        static KernelLog log;
        return log;
    }

    void record(const dnnl::primitive_desc_base& pd) {
        KernelChoice choice{primitive_name(pd), shapes_of(pd), pd.impl_info_str()};
        const std::lock_guard<std::mutex> lock(mutex_);
        if (choices_.size() < capacity) choices_.insert(std::move(choice));
    }

    std::vector<KernelChoice> choices() const {
        const std::lock_guard<std::mutex> lock(mutex_);
        return {choices_.begin(), choices_.end()};
    }

    void clear() {
        const std::lock_guard<std::mutex> lock(mutex_);
        choices_.clear();
    }

private:
    static constexpr std::size_t capacity = 100000;

    static std::string primitive_name(const dnnl::primitive_desc_base& pd) {
        const dnnl::primitive::kind kind = pd.get_kind();
        std::string name = dnnl_prim_kind2str(dnnl::convert_to_c(kind));
        if (kind == dnnl::primitive::kind::reorder) return name;
        dnnl_prop_kind_t prop = dnnl_prop_kind_undef;
        if (dnnl_primitive_desc_query(pd.get(), dnnl_query_prop_kind, 0, &prop) == dnnl_success &&
            prop != dnnl_prop_kind_undef)
            name += std::string(" ") + dnnl_prop_kind2str(prop);
        return name;
    }

    static std::string shapes_of(const dnnl::primitive_desc_base& pd) {
        using q = dnnl::query;
        const std::pair<q, const char*> arguments[] = {
            {q::src_md, "src"},         {q::diff_src_md, "diff_src"},
            {q::weights_md, "weights"}, {q::diff_weights_md, "diff_weights"},
            {q::dst_md, "dst"},         {q::diff_dst_md, "diff_dst"}};
        std::string text;
        for (const auto& [what, label] : arguments) {
            const dnnl::memory::desc md = pd.query_md(what);
            if (md.is_zero()) continue;
            if (!text.empty()) text += ", ";
            text += label;
            text += ' ';
            const auto dims = md.dims();
            for (std::size_t i = 0; i < dims.size(); ++i) text += (i ? "x" : "") + std::to_string(dims[i]);
            text += ' ';
            text += dnnl_dt2str(dnnl_data_type_t(md.data_type()));
        }
        return text;
    }

    mutable std::mutex mutex_;
    std::set<KernelChoice> choices_;
};

// `pd`, its implementation recorded: every primitive descriptor of the cpu backend
// passes through here.
template <class PrimitiveDesc>
const PrimitiveDesc& recorded(const PrimitiveDesc& pd) {
    KernelLog::get().record(pd);
    return pd;
}

// A reorder primitive from `from` to `to`, its implementation recorded.
inline dnnl::reorder recorded_reorder(const dnnl::memory& from, const dnnl::memory& to) {
    return dnnl::reorder(recorded(dnnl::reorder::primitive_desc(from, to)));
}

}  // namespace bagnet::backend::cpu
