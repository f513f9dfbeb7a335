// bagnet::compiled: the explanations on the cpu backend (bagnet/instances.hpp).
#include "bagnet/bagnet.hpp"
#include "bagnet/explain.hpp"

namespace bagnet {
BAGNET_HEATMAP_INSTANCES(template, cpu)
BAGNET_HEATMAP_FIGURES_INSTANCES(template, cpu)
BAGNET_TOP_PATCHES_INSTANCES(template, cpu)
BAGNET_REPORT_INSTANCES(template, cpu)
BAGNET_MASKING_INSTANCES(template, cpu)
BAGNET_ATTRIBUTION_BENCHMARK_INSTANCES(template, cpu)
BAGNET_GRADIENT_ATTRIBUTION_INSTANCES(template, cpu)
BAGNET_SCRAMBLING_INSTANCES(template, cpu)
}  // namespace bagnet
