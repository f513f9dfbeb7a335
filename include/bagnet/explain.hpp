#pragma once
// Interpretability: #include <bagnet/explain.hpp> (on top of <bagnet/bagnet.hpp>).
#include "bagnet/explain/colormap.hpp"
#include "bagnet/explain/geometry.hpp"
#include "bagnet/explain/heatmap.hpp"
#include "bagnet/explain/heatmap_picture.hpp"
#include "bagnet/explain/picture.hpp"
