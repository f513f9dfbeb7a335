#pragma once
// Interpretability: #include <bagnet/explain.hpp> (on top of <bagnet/bagnet.hpp>).
#include "bagnet/explain/attribution_benchmark.hpp"
#include "bagnet/explain/colormap.hpp"
#include "bagnet/explain/geometry.hpp"
#include "bagnet/explain/gradient_attribution.hpp"
#include "bagnet/explain/heatmap.hpp"
#include "bagnet/explain/heatmap_picture.hpp"
#include "bagnet/explain/masking.hpp"
#include "bagnet/explain/patch_grid.hpp"
#include "bagnet/explain/picture.hpp"
#include "bagnet/explain/report.hpp"
#include "bagnet/explain/scrambling.hpp"
#include "bagnet/explain/top_patches.hpp"
