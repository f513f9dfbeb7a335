// bagnet::compiled: the explanations on the reference backend (bagnet/instances.hpp).
#include "bagnet/bagnet.hpp"
#include "bagnet/explain.hpp"

namespace bagnet {
BAGNET_HEATMAP_INSTANCES(template, reference)
BAGNET_HEATMAP_FIGURES_INSTANCES(template, reference)
BAGNET_TOP_PATCHES_INSTANCES(template, reference)
BAGNET_REPORT_INSTANCES(template, reference)
BAGNET_MASKING_INSTANCES(template, reference)
BAGNET_ATTRIBUTION_BENCHMARK_INSTANCES(template, reference)
BAGNET_GRADIENT_ATTRIBUTION_INSTANCES(template, reference)
BAGNET_SCRAMBLING_INSTANCES(template, reference)
}  // namespace bagnet
