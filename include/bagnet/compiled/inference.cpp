// bagnet::compiled: models and inference on the cpu and reference backends (bagnet/instances.hpp).
#include "bagnet/bagnet.hpp"
#include "bagnet/backend/cpu/errors_impl.hpp"
#include "bagnet/backend/cpu/executor_impl.hpp"
#include "bagnet/backend/cpu/machine_impl.hpp"
#include "bagnet/backend/reference/executor_impl.hpp"
#include "bagnet/parameters_impl.hpp"

namespace bagnet {
BAGNET_ARCHITECTURE_INSTANCES(template)
BAGNET_INFERENCE_INSTANCES(template, cpu)
BAGNET_INFERENCE_INSTANCES(template, reference)
}  // namespace bagnet
