#!/usr/bin/env bash
# Builds the release `bagnet` command line (build/bin/bagnet) and shows what it does:
#   1. Fashion-MNIST with the shipped BagNet (models/fashion_mnist_bagnet9.safetensors): test accuracy, exact
#      heatmaps, the most informative patches of every class, explained mistakes, and the
#      attribution benchmark (BagNet evidence as ground truth); certified robustness against
#      adversarial patches with the shipped stride-2 BagNet (models/fashion_mnist_fine9.safetensors)
#      and a patch attack that tries to break the certificates;
#      The data-set passes (evaluation, patch mining) also run on 2 MPI processes where the build
#      links Open MPI, with the same results;
#   2. the ImageNet path end to end: BagNet-9/17/33 with RANDOM weights (a checkpoint made by the
#      tests' PyTorch model and converted), on python3-skimage's photos.
# Everything goes to one folder (default demo-output/, or $1) with an index.html showing it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh
cmake --preset release
cmake --build --preset release

OUT=$(realpath -m "${1:-demo-output}")
BAGNET=build/bin/bagnet
PYTHON=/usr/bin/python3  # Debian's, with torch
WEIGHTS=${BAGNET_FASHION_WEIGHTS:-models/fashion_mnist_bagnet9.safetensors}
PHOTOS=/usr/lib/python3/dist-packages/skimage/data
THREADS=${BAGNET_THREADS:-2}
FINE=models/fashion_mnist_fine9.safetensors
FASHION_DATA=(--arch fashion9 --weights "$WEIGHTS" --dataset fashion-mnist --split test)
FASHION=("${FASHION_DATA[@]}" --threads "$THREADS")
mkdir -p "$OUT/fashion/patches" "$OUT/fashion/explained" "$OUT/imagenet"

step() { echo; echo "== $* (at ${SECONDS}s)"; }

# Two processes of one thread each, where bagnet was built with MPI (the default where it is installed).
MPI=()
if command -v mpirun >/dev/null && ldd "$BAGNET" | grep -q libmpi; then
    MPI=(mpirun --allow-run-as-root --oversubscribe -q -np 2)
fi

step "Fashion-MNIST: test accuracy of $WEIGHTS"
if [[ ! -f $WEIGHTS ]]; then
    echo "demo.sh: error: the shipped Fashion-MNIST weights $WEIGHTS are missing" >&2
    exit 1
fi
"$BAGNET" evaluate --arch fashion9 --weights "$WEIGHTS" --dataset fashion-mnist --threads "$THREADS" | tee "$OUT/fashion/accuracy.txt"
if [[ ${#MPI[@]} -gt 0 ]]; then
    step "Fashion-MNIST: the same evaluation on 2 MPI processes (each takes every other batch; rank 0 merges)"
    echo "on 2 MPI processes:" >> "$OUT/fashion/accuracy.txt"
    "${MPI[@]}" "$BAGNET" evaluate --arch fashion9 --weights "$WEIGHTS" --dataset fashion-mnist --threads 1 \
        | tee -a "$OUT/fashion/accuracy.txt"
fi

step "Fashion-MNIST: exact per-pixel evidence of the top 2 classes, 6 test images"
"$BAGNET" heatmap "${FASHION[@]}" --limit 6 --top 2 --dense --output "$OUT/fashion/heatmaps.png"

step "Fashion-MNIST: the most informative patches of every class (one pass over the test set${MPI:+, 2 MPI processes})"
if [[ ${#MPI[@]} -gt 0 ]]; then
    "${MPI[@]}" "$BAGNET" patches "${FASHION_DATA[@]}" --threads 1 --class all --top 8 --output-dir "$OUT/fashion/patches"
else
    "$BAGNET" patches "${FASHION[@]}" --class all --top 8 --output-dir "$OUT/fashion/patches"
fi

step "Fashion-MNIST: three mistakes explained (true class against predicted)"
"$BAGNET" explain "${FASHION[@]}" --limit 2000 --mistakes --count 3 --top 2 --output-dir "$OUT/fashion/explained"

step "Fashion-MNIST: attribution methods scored against the exact evidence (8 test images)"
"$BAGNET" attribute "${FASHION[@]}" --limit 8 --output "$OUT/fashion/attribution.md"

step "Fashion-MNIST: certified accuracy against a 4 x 4 patch (2% of the image), 500 test images, $FINE"
CERTIFY=(--arch fashionfine9 --weights "$FINE" --dataset fashion-mnist --limit 500 --threads "$THREADS" --patch 4)
: > "$OUT/fashion/certify.txt"
certify() {
    local name=$1
    shift
    "$BAGNET" certify "${CERTIFY[@]}" "$@" --output "$OUT/fashion/certify_$name.json" | tee -a "$OUT/fashion/certify.txt"
}
certify masking --defense masking
certify masking_t0.2 --defense masking --threshold 0.2
certify clipping --defense clipping
step "Fashion-MNIST: a PGD patch attack (2 x 2, every 6th position, 24 test images): no certified image flips"
"$BAGNET" attack-patch --arch fashionfine9 --weights "$FINE" --dataset fashion-mnist --limit 24 --threads "$THREADS" \
    --patch 2 --stride 6 --steps 8 --step-size 0.1 --output "$OUT/fashion/attack.json" | tee -a "$OUT/fashion/certify.txt"

step "ImageNet path with RANDOM weights: BagNet-9/17/33 from the tests' PyTorch model, converted"
for q in 9 17 33; do
    checkpoint="$OUT/imagenet/bagnet${q}_random.pth"
    if [[ ! -f "$OUT/imagenet/bagnet${q}_random.safetensors" ]]; then
        "$PYTHON" -c "
import sys, torch
sys.path.insert(0, 'tests/reference')
from bagnet_reference import imagenet, randomize
torch.save(randomize(imagenet($q), seed=$q).state_dict(), '$checkpoint')"
        "$PYTHON" tools/convert_checkpoint.py "$checkpoint" "$OUT/imagenet/bagnet${q}_random.safetensors"
        rm -f "$checkpoint"
    fi
    IMAGENET=(--arch "bagnet$q" --weights "$OUT/imagenet/bagnet${q}_random.safetensors" --threads "$THREADS")
    "$BAGNET" classify "${IMAGENET[@]}" --topk 3 "$PHOTOS/astronaut.png" "$PHOTOS/chelsea.png" "$PHOTOS/coffee.png" \
        | tee "$OUT/imagenet/classify_bagnet$q.txt"
    "$BAGNET" heatmap "${IMAGENET[@]}" --top 1 --output "$OUT/imagenet/coarse_bagnet$q.png" \
        "$PHOTOS/astronaut.png" "$PHOTOS/chelsea.png" "$PHOTOS/coffee.png"
done
step "ImageNet path: the exact 224 x 224 heatmap of BagNet-33 (the a-trous dense evaluation)"
"$BAGNET" heatmap --arch bagnet33 --weights "$OUT/imagenet/bagnet33_random.safetensors" --threads "$THREADS" \
    --top 1 --dense --output "$OUT/imagenet/dense_bagnet33_chelsea.png" "$PHOTOS/chelsea.png"

step "index.html"
{
    echo "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>bagnet demo</title>"
    echo "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto}img{max-width:100%}</style></head><body>"
    echo "<h1>bagnet demo</h1><h2>Fashion-MNIST ($WEIGHTS)</h2><pre>$(cat "$OUT/fashion/accuracy.txt")</pre>"
    echo "<h3>Exact per-pixel class evidence</h3><img src=\"fashion/heatmaps.png\">"
    echo "<h3>Explained mistakes</h3><p><a href=\"fashion/explained/report.html\">report</a> (and report.json)</p>"
    echo "<h3>Attribution methods against the exact evidence</h3><pre>$(cat "$OUT/fashion/attribution.md")</pre>"
    echo "<h3>Certified robustness against adversarial patches ($FINE)</h3>"
    echo "<p>Robust masking (PatchGuard) and Clipped BagNet against a 4 x 4 patch; every image certified"
    echo "provably keeps its class whatever the patch does, wherever it is. Then a PGD attack with a"
    echo "2 x 2 patch. Per-image reports: <a href=\"fashion/certify_masking.json\">certify_masking.json</a>"
    echo "(and the other certify_*.json), <a href=\"fashion/attack.json\">attack.json</a>.</p>"
    echo "<pre>$(cat "$OUT/fashion/certify.txt")</pre>"
    echo "<h3>Most informative patches of each class</h3>"
    for class in 0 1 2 3 4 5 6 7 8 9; do echo "<p><img src=\"fashion/patches/patches_class$class.png\"></p>"; done
    echo "<h2>ImageNet path, RANDOM weights (the mechanics, not knowledge)</h2>"
    echo "<img src=\"imagenet/dense_bagnet33_chelsea.png\">"
    for q in 9 17 33; do
        echo "<h3>BagNet-$q</h3><pre>$(cat "$OUT/imagenet/classify_bagnet$q.txt")</pre><img src=\"imagenet/coarse_bagnet$q.png\">"
    done
    echo "</body></html>"
} > "$OUT/index.html.tmp"
mv "$OUT/index.html.tmp" "$OUT/index.html"

echo
echo "demo.sh: done in ${SECONDS}s; open $OUT/index.html"
