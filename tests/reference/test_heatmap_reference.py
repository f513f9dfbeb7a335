#!/usr/bin/python3
"""Self-check of the per-patch heatmap reference (make_heatmap_fixture.per_patch_heatmap): on the
output-stride grid it must equal the network's own logit map of the unpadded image, and a patch's
value must not depend on pixels outside it. The C++ dense heatmap tests trust this function."""
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bagnet_reference import randomize, small  # noqa: E402
from make_heatmap_fixture import per_patch_heatmap  # noqa: E402


class PerPatchHeatmap(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.q = 9
        self.model = randomize(small(self.q, classes=3), seed=5).eval().double()
        self.images = torch.randn(2, 1, 15, 13, dtype=torch.float64)

    def test_equals_the_logit_map_on_the_grid(self):
        dense = per_patch_heatmap(self.model, self.images, self.q)
        with torch.no_grad():
            coarse = self.model.logit_map(self.images).permute(0, 3, 1, 2)
        half, stride = (self.q - 1) // 2, self.model.output_stride
        on_grid = dense[:, :, half::stride, half::stride][:, :, :coarse.shape[2], :coarse.shape[3]]
        torch.testing.assert_close(on_grid, coarse, rtol=1e-9, atol=1e-9)

    def test_a_pixel_sees_only_its_patch(self):
        changed = self.images.clone()
        changed[:, :, 14, 12] += 5.0  # bottom-right corner pixel
        before = per_patch_heatmap(self.model, self.images, self.q)
        after = per_patch_heatmap(self.model, changed, self.q)
        moved = (after - before).abs().amax(dim=(0, 1)) > 1e-12
        expected = torch.zeros_like(moved)
        expected[14 - 4:, 12 - 4:] = True  # the 9 x 9 patches centred within 4 pixels of it
        self.assertTrue(torch.equal(moved, expected))


if __name__ == "__main__":
    unittest.main()
