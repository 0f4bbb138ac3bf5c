#!/usr/bin/env bash
# A software WebGPU adapter for machines without a GPU (CI): SwiftShader's Vulkan driver and
# the Vulkan loader, taken from Debian's chromium-common package and unpacked into
# .cache/webgpu/ (nothing is installed system-wide). Dawn (the `webgpu` npm package, Node)
# and wgpu (Deno) both find it through two variables, written to .cache/webgpu/env.sh:
#
#     scripts/setup-webgpu.sh && . .cache/webgpu/env.sh
#
# They must be in the environment before the process starts: the dynamic loader reads
# LD_LIBRARY_PATH once, at startup. Idempotent: a second run only rewrites env.sh.
#
# --browser also installs Debian's chromium (system-wide: apt is the only source of a
# browser here) for test/webgpu-browser.test.ts; a failure there only warns, since that
# test skips without it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/.cache/webgpu"
lib="$dir/swiftshader/usr/lib/chromium"
icd="$lib/vk_swiftshader_icd.json"

if [ ! -f "$icd" ] || [ ! -f "$lib/libvk_swiftshader.so" ] || [ ! -f "$lib/libvulkan.so.1" ]; then
  mkdir -p "$dir/debs"
  cd "$dir/debs"
  # apt-get download needs current package lists; update only when none are there.
  if ! apt-cache show chromium-common >/dev/null 2>&1; then apt-get update -qq; fi
  rm -f chromium-common_*.deb
  # _apt cannot write into a root-owned folder; the download then runs as root, with a warning.
  apt-get download -qq chromium-common 2>&1 | grep -v 'couldn.t be accessed by user' || true
  deb=$(ls chromium-common_*.deb 2>/dev/null | head -1)
  [ -n "$deb" ] || { echo "setup-webgpu: could not download chromium-common" >&2; exit 1; }
  rm -rf "$dir/swiftshader"
  mkdir -p "$dir/swiftshader"
  dpkg -x "$deb" "$dir/tmp-extract"
  mkdir -p "$lib"
  for f in libvk_swiftshader.so vk_swiftshader_icd.json libvulkan.so.1; do
    cp "$dir/tmp-extract/usr/lib/chromium/$f" "$lib/"
  done
  rm -rf "$dir/tmp-extract" "$dir/debs"
fi

cat > "$dir/env.sh" <<ENV
# Written by scripts/setup-webgpu.sh: SwiftShader (Vulkan on the CPU) as the WebGPU adapter.
export VK_ICD_FILENAMES="$icd"
export LD_LIBRARY_PATH="$lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
ENV
if [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null 2>&1; then
  { apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null 2>&1; }; } \
    || echo "setup-webgpu: could not install chromium; the browser test will be skipped" >&2
fi
echo "setup-webgpu: SwiftShader ready in ${lib#$root/} (. .cache/webgpu/env.sh)"
