#!/usr/bin/env bash
# Installs the Debian 12 packages that bagnet's build, tests and demo need. Only missing packages are
# installed, so on a ready machine this changes nothing and needs no root.
set -euo pipefail

packages=(
    build-essential cmake git
    clang libclang-rt-14-dev       # clang and libFuzzer for BAGNET_FUZZ
    libdnnl-dev xtensor-dev xtl-dev libeigen3-dev catch2 zlib1g-dev
    libpng-dev libjpeg62-turbo-dev libstb-dev   # image files; stb only for stb_easy_font
    libcli11-dev                   # the command line's parser
    nlohmann-json3-dev             # JSON for reports, metrics and safetensors headers
    libopenmpi-dev openmpi-bin     # distributed training and analyses (bagnet::mpi)
    # Debian's dnnl CMake package config requires OpenCL, even for CPU-only use.
    ocl-icd-opencl-dev opencl-c-headers
    # The PyTorch reference that tests compare against, and its data.
    python3 python3-numpy python3-torch python3-torchvision python3-pil python3-skimage
    dataset-fashion-mnist
    # The Python module (python/) and its tests.
    pybind11-dev python3-pybind11 python3-dev python3-pytest
)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg -s "$package" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing+=("$package")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
        echo "install-deps: missing packages (${missing[*]}) and not root: run this script as root" >&2
        exit 1
    fi
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
