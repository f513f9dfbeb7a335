#!/usr/bin/env bash
# Writes every PyTorch reference fixture into the directory given as $1; ctest runs it once, as the
# `make_fixtures` setup test, before any Catch test.
#
# Add one line per generator, e.g.
#   gen make_fixture.py --output "$DIR/some_fixture"
# Generators should skip work whose outputs already exist and are newer than their inputs, since this
# runs on every ctest invocation.
#
# The environment comes from tests/CMakeLists.txt: BAGNET_PYTHON (Debian's python3, which has torch),
# BAGNET_SOURCE_DIR, BAGNET_BIN, BAGNET_FIXTURE_DIR.
set -euo pipefail

DIR=${1:?usage: make_all_fixtures.sh OUTPUT_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${BAGNET_PYTHON:-/usr/bin/python3}
mkdir -p "$DIR"

# Each generator run is queued here and all run in one Python process at the end
# (run_generators.py), so that torch is imported once rather than once per fixture.
jobs=$(mktemp)
trap 'rm -f "$jobs"' EXIT
gen() { printf '%q ' "$@" >>"$jobs" && echo >>"$jobs"; }

# Inference against the PyTorch reference: q = 9, 17, 33, batches > 1, odd and non-square sizes,
# the smallest input (q x q), legacy and zip checkpoints, wrapped and module.-prefixed state dicts.
gen make_fixture.py --q 9 --height 45 --width 38 --batch 2 --seed 1 --format legacy --out "$DIR/infer_q9"
gen make_fixture.py --q 17 --height 37 --width 53 --batch 3 --seed 2 --format zip --wrap --out "$DIR/infer_q17"
gen make_fixture.py --q 33 --height 41 --width 35 --batch 2 --seed 3 --format legacy --prefix --out "$DIR/infer_q33"
gen make_fixture.py --q 33 --height 33 --width 33 --batch 1 --seed 4 --format zip --wrap --prefix --out "$DIR/infer_q33_min"
gen make_fixture.py --q 9 --height 28 --width 28 --batch 2 --seed 5 --config small --classes 10 --out "$DIR/infer_small9"

# ImageNet preprocessing as torchvision's PIL pipeline does it, on python3-skimage's photos.
for photo in astronaut.png chelsea.png camera.png text.png logo.png rocket.jpg hubble_deep_field.jpg; do
    gen make_image_fixture.py "/usr/lib/python3/dist-packages/skimage/data/$photo" "$DIR/image_${photo%.*}.npy"
done

# Decoding every PNG and JPEG layout as PIL does, files that must be refused, and torchvision's
# crop + resize of RandomResizedCrop for fixed boxes.
gen make_decoder_fixtures.py "$DIR/decoders"

# RandomResizedCrop.get_params draws for the crop-geometry statistics (tests/test_data.cpp).
gen make_crop_fixture.py "$DIR/crop_params.npy"

# Full-resolution heatmaps by the per-patch definition (one network input per pixel): q = 9, 17, 33,
# odd and non-square sizes, several output-stride steps per axis. q = 9 is the published layout (the
# CLI tests load it as bagnet9); q = 17 and 33 use it at a quarter of the widths, since the definition
# costs one network pass per pixel (the full widths took 100 s of two cores for q = 33).
gen make_heatmap_fixture.py --q 9 --height 19 --width 13 --batch 2 --seed 11 --classes 10 --out "$DIR/heatmap_q9"
gen make_heatmap_fixture.py --q 17 --height 25 --width 21 --batch 1 --seed 12 --config imagenet_slim --out "$DIR/heatmap_q17"
gen make_heatmap_fixture.py --q 33 --height 37 --width 35 --batch 1 --seed 13 --config imagenet_slim --out "$DIR/heatmap_q33"

# Training against PyTorch in float64 (tests/test_train_pytorch.cpp): eval-mode input gradients for
# q = 9 and 33; SGD with momentum and weight decay in training mode, one ordinary step for q = 17 and
# 33, two tiny steps (where the update reads out gradient, momentum and decay linearly) for q = 17.
gen make_train_fixture.py gradient --q 9 --height 25 --width 30 --batch 2 --seed 21 --out "$DIR/train_gradient_q9"
gen make_train_fixture.py gradient --q 33 --height 41 --width 35 --batch 2 --seed 22 --out "$DIR/train_gradient_q33"
gen make_train_fixture.py sgd --q 17 --height 49 --width 41 --batch 2 --seed 23 --lr 0.01 --steps 1 --out "$DIR/train_sgd_q17"
gen make_train_fixture.py sgd --q 33 --height 57 --width 49 --batch 2 --seed 24 --lr 0.01 --steps 1 --out "$DIR/train_sgd_q33"
gen make_train_fixture.py sgd --q 17 --height 49 --width 41 --batch 2 --seed 25 --lr 1e-6 --weight-decay 0.05 --steps 2 --out "$DIR/train_sgd_q17_two_tiny"

# Data-parallel training by PyTorch DDP (gloo, 2 processes, per-process batch norm): two SGD steps of
# the small BagNet-9, for the simulated processes (tests/test_train_pytorch.cpp) and mpirun -np 2.
# (Its own process: it starts processes of its own.)
"$PYTHON" "$HERE/make_ddp_fixture.py" --steps 2 --batch 16 --seed 31 --lr 0.01 --out "$DIR/train_ddp_small9"

# A standard CNN beside the BagNets: torchvision's resnet50 (random weights, 10 classes) on an odd,
# non-square input, eval-mode logits and logit map and one SGD step (tests/test_resnet.cpp).
gen make_resnet_fixture.py --height 67 --width 59 --batch 2 --seed 41 --out "$DIR/resnet50"

# Fidelity (tests/test_fidelity.cpp): ResNet-50's and BagNet-17's input gradient and one SGD step
# (batch norm in evaluation mode) in float64, with PyTorch's own float32 distance from them as the yardstick.
gen make_fidelity_fixture.py --arch resnet50 --height 64 --width 64 --batch 2 --seed 51 --out "$DIR/fidelity_resnet50"
gen make_fidelity_fixture.py --arch bagnet17 --height 41 --width 37 --batch 2 --seed 52 --out "$DIR/fidelity_bagnet17"

# Average pooling against AvgPool2d (tests/test_average_pool.cpp): padded and unpadded windows, eval-mode
# logits and input gradient, training-mode parameter gradients, in float64.
gen make_pooling_fixture.py --height 15 --width 12 --batch 3 --seed 61 --out "$DIR/average_pool"

"$PYTHON" "$HERE/run_generators.py" "$jobs"
