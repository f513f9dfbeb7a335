#!/usr/bin/python3
"""Draw where a BagNet sees the evidence for the class it predicts, exactly, at every pixel.

    draw_heatmap.py [IMAGE [OUT.png [WEIGHTS.safetensors [ARCH]]]]

A BagNet classifies every q x q patch on its own and averages the answers, so its evidence for
a class has an exact location: dense_heatmap gives the logit of the patch centred on every
pixel. IMAGE defaults to python3-skimage's cat, OUT.png to heatmap.png, ARCH to bagnet9.
Without weights the model is random (the picture then shows the mechanics, not knowledge).
"""
import sys

import bagnet

arguments = sys.argv[1:] + [""] * 4
image = arguments[0] or "/usr/lib/python3/dist-packages/skimage/data/chelsea.png"
output = arguments[1] or "heatmap.png"
model = bagnet.Model(arguments[3] or "bagnet9", weights=arguments[2] or None)

x = bagnet.imagenet_preprocess(image)
# Per pixel (1 x 1 x 224 x 224, logit units): the evidence of the patch centred there.
evidence, classes = model.dense_heatmap(x, top=1, progress=lambda done, total: print(f"pass {done}/{total}"))
print(f"{model.class_name(classes[0][0])}: evidence from {evidence.min():.3f} to {evidence.max():.3f}, "
      f"mean {evidence.mean():.3f} (the image's logit)")
# The command line's picture: the image, the map with its edges, a colour bar.
model.heatmap_png(x, top=1, dense=True, names=[image], display="imagenet", path=output)
print(f"wrote {output}")
