#pragma once
// The `cpu` backend: oneDNN inference plans (see inference_plan.hpp), built once
// per input shape, precision and output kind, and reused. The plans sit behind a
// pointer, so that this header (what bagnet/bagnet.hpp needs to run a model) does not
// parse oneDNN's when the compiled part is linked.
#include <array>
#include <memory>

#include "bagnet/arch.hpp"
#include "bagnet/backend/backend.hpp"
#include "bagnet/backend/cpu/errors.hpp"
#include "bagnet/backend/cpu/machine.hpp"
#include "bagnet/instances.hpp"
#include "bagnet/parameters.hpp"
#include "bagnet/tensor.hpp"

namespace bagnet {
namespace backend::cpu {
class PlanCache;
}

template <>
class Executor<cpu> {
public:
    BAGNET_INLINE Executor();
    BAGNET_INLINE ~Executor();
    // Copies start with no plans: they are caches, rebuilt on first use.
    BAGNET_INLINE Executor(const Executor&);
    BAGNET_INLINE Executor& operator=(const Executor&);

    BAGNET_INLINE Tensor2 logits(const Architecture& arch, const Parameters& params, const ImagesView& x,
                                 Precision precision);
    BAGNET_INLINE Tensor4 logit_map(const Architecture& arch, const Parameters& params, const ImagesView& x,
                                    Precision precision);
    // Parameters changed: the folded weights inside the plans are stale.
    BAGNET_INLINE void invalidate();

private:
    std::unique_ptr<backend::cpu::PlanCache> plans_;
};

}  // namespace bagnet

#if !BAGNET_COMPILED
#include "bagnet/backend/cpu/executor_impl.hpp"
#endif
