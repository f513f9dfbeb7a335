#pragma once
// What training takes from the input pipeline (bagnet/data/): batches streamed
// from a data set, and the checks done on the data before any work.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "bagnet/data/stream.hpp"
#include "bagnet/data/tensor_dataset.hpp"
#include "bagnet/error.hpp"
#include "bagnet/io/idx.hpp"
#include "bagnet/tensor.hpp"

namespace bagnet::train {

using data::Batch;

// Images begin..end of a batch, copied (cheaper to compile than an xtensor view).
inline Tensor4 slice_batch(const Tensor4& x, std::size_t begin, std::size_t end) {
    Tensor4 out = Tensor4::from_shape({end - begin, x.shape()[1], x.shape()[2], x.shape()[3]});
    const std::size_t per_image = x.size() / std::max<std::size_t>(1, x.shape()[0]);
    std::copy(x.data() + begin * per_image, x.data() + end * per_image, out.data());
    return out;
}

}  // namespace bagnet::train
