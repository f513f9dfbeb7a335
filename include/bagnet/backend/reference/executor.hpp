#pragma once
// The reference backend interprets the graph exactly as PyTorch runs the model:
// each layer on its own (convolution, batch norm, ReLU, shortcut, pooling), nothing
// folded or fused. Its Eigen loops are in executor_impl.hpp, so that this header does not
// parse Eigen when the compiled part is linked.
#include "bagnet/arch.hpp"
#include "bagnet/backend/backend.hpp"
#include "bagnet/instances.hpp"
#include "bagnet/parameters.hpp"
#include "bagnet/tensor.hpp"

namespace bagnet {

template <>
class Executor<reference> {
public:
    BAGNET_INLINE Tensor2 logits(const Architecture& arch, const Parameters& params, const ImagesView& x,
                                 Precision precision);
    // The head applied at every location of the features the spatial mean would average.
    BAGNET_INLINE Tensor4 logit_map(const Architecture& arch, const Parameters& params, const ImagesView& x,
                                    Precision precision);
    // Parameters changed: nothing is cached here.
    void invalidate() {}

private:
    // Value `wanted` of the graph (evaluation mode) for input x; a value is freed after its last reader.
    // x is taken by value: it becomes value 0.
    BAGNET_INLINE static Tensor4 value(const Graph& graph, const Parameters& params, Tensor4 x, int wanted);
};

}  // namespace bagnet

#if !BAGNET_COMPILED
#include "bagnet/backend/reference/executor_impl.hpp"
#endif
