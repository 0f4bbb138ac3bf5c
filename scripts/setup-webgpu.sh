#!/usr/bin/env bash
# A software WebGPU adapter for machines without a GPU (CI): SwiftShader's Vulkan driver and
# the Vulkan loader, taken from Debian's chromium-common package and unpacked into
# .cache/webgpu/ (nothing is installed system-wide). Dawn (the `webgpu` npm package, Node)
# and wgpu (Deno) both find it through two variables, written to .cache/webgpu/env.sh:
#
#     scripts/setup-webgpu.sh && . .cache/webgpu/env.sh
#
# They must be in the environment before the process starts: the dynamic loader reads
# LD_LIBRARY_PATH once, at startup. Idempotent: a second run only rewrites the env files.
#
# --browser also installs Debian's chromium (system-wide: apt is the only source of a
# browser here) for test/webgpu-browser.test.ts; a failure there only warns, since that
# test skips without it.
#
# --lavapipe also sets up Mesa's lavapipe (Vulkan on the CPU through LLVM), the software
# adapter with `shader-f16` (test/webgpu-f16.test.ts) and subgroups; Debian 12's own Mesa 22.3
# is too old for Dawn, so its driver comes from bookworm-backports (Mesa 25) and the LLVM it
# links from bookworm. The .deb files are fetched with `apt-get download` through a private
# apt state in .cache/webgpu/apt/ whose only source is bookworm-backports: the system's apt
# sources and preferences are neither read for that nor changed. Unpacked into
# .cache/webgpu/lavapipe/; its variables go to .cache/webgpu/env-lavapipe.sh:
#
#     scripts/setup-webgpu.sh --lavapipe && . .cache/webgpu/env-lavapipe.sh
#
# DEBIAN_MIRROR overrides the archive (default http://deb.debian.org/debian).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/.cache/webgpu"
lib="$dir/swiftshader/usr/lib/chromium"
icd="$lib/vk_swiftshader_icd.json"
browser=0 lavapipe=0
for arg in "$@"; do
  case "$arg" in
    --browser) browser=1 ;;
    --lavapipe) lavapipe=1 ;;
    *) echo "setup-webgpu: unknown option $arg (--browser, --lavapipe)" >&2; exit 2 ;;
  esac
done

# apt-get download into a root-owned folder runs unsandboxed, with a warning; drop that line.
quiet_download() { apt-get "$@" 2>&1 | grep -v 'couldn.t be accessed by user' || true; }

if [ ! -f "$icd" ] || [ ! -f "$lib/libvk_swiftshader.so" ] || [ ! -f "$lib/libvulkan.so.1" ]; then
  mkdir -p "$dir/debs"
  cd "$dir/debs"
  # apt-get download needs current package lists; update only when none are there.
  if ! apt-cache show chromium-common >/dev/null 2>&1; then apt-get update -qq; fi
  rm -f chromium-common_*.deb
  quiet_download download -qq chromium-common
  deb=$(ls chromium-common_*.deb 2>/dev/null | head -1 || true)
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
if [ "$browser" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  { apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null 2>&1; }; } \
    || echo "setup-webgpu: could not install chromium; the browser test will be skipped" >&2
fi
echo "setup-webgpu: SwiftShader ready in ${lib#$root/} (. .cache/webgpu/env.sh)"

[ "$lavapipe" = 1 ] || exit 0

lvp="$dir/lavapipe"
lvp_lib="$lvp/lib"
lvp_icd="$lvp/lvp_icd.json"
# The driver, the libraries it needs newer than bookworm's (libdrm), its LLVM and the loader.
lvp_files="libvulkan_lvp.so libdrm.so.2 libdrm_amdgpu.so.1 libvulkan.so.1"
have=1
for f in $lvp_files; do [ -e "$lvp_lib/$f" ] || have=0; done
[ -f "$lvp_icd" ] && [ -f "$lvp/llvm" ] && [ -e "$lvp_lib/$(cat "$lvp/llvm" 2>/dev/null)" ] || have=0

if [ "$have" = 0 ]; then
  fail() {
    echo "setup-webgpu --lavapipe: $*" >&2
    rm -rf "$dir/apt" "$dir/lavapipe-debs" "$dir/tmp-lavapipe"
    exit 1
  }
  . /etc/os-release
  [ "${VERSION_CODENAME:-}" = bookworm ] || fail "needs Debian 12 (bookworm) for bookworm-backports; this is ${PRETTY_NAME:-unknown}"
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  [ -f "$keyring" ] || fail "no $keyring to check bookworm-backports with"
  arch=$(dpkg --print-architecture)
  mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
  # A private apt state: its own sources list (bookworm-backports only), lists and cache.
  apt_dir="$dir/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  echo "deb [signed-by=$keyring] $mirror bookworm-backports main" > "$apt_dir/sources.list"
  bpo=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
       -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "Dir::Etc::Preferences=/dev/null"
       -o Dir::Etc::PreferencesParts=/dev/null -o APT::Architecture="$arch")
  apt-get "${bpo[@]}" update -qq --error-on=any || fail "apt-get update of bookworm-backports failed (network or $mirror unreachable?)"
  debs="$dir/lavapipe-debs"
  rm -rf "$debs" && mkdir -p "$debs" && cd "$debs"
  quiet_download "${bpo[@]}" download -qq mesa-vulkan-drivers libdrm2 libdrm-amdgpu1
  mesa=$(ls mesa-vulkan-drivers_*.deb 2>/dev/null | head -1 || true)
  [ -n "$mesa" ] && ls libdrm2_*.deb libdrm-amdgpu1_*.deb >/dev/null 2>&1 \
    || fail "could not download mesa-vulkan-drivers, libdrm2 and libdrm-amdgpu1 from bookworm-backports"
  # The LLVM the driver links (libllvm15 for Mesa 25.0 in backports) and the Vulkan loader
  # come from bookworm itself, through the system's package lists.
  llvm_pkg=$(dpkg-deb -f "$mesa" Depends | grep -o 'libllvm[0-9]\+' | head -1 || true)
  [ -n "$llvm_pkg" ] || fail "cannot tell which LLVM $mesa needs"
  if ! apt-cache show libvulkan1 "$llvm_pkg" >/dev/null 2>&1; then apt-get update -qq; fi
  quiet_download download -qq libvulkan1 "$llvm_pkg"
  ls libvulkan1_*.deb "${llvm_pkg}"_*.deb >/dev/null 2>&1 \
    || quiet_download "${bpo[@]}" download -qq libvulkan1 "$llvm_pkg"
  ls libvulkan1_*.deb "${llvm_pkg}"_*.deb >/dev/null 2>&1 || fail "could not download libvulkan1 and $llvm_pkg"
  rm -rf "$lvp" "$dir/tmp-lavapipe"
  for deb in *.deb; do dpkg -x "$deb" "$dir/tmp-lavapipe"; done
  src="$dir/tmp-lavapipe/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)"
  mkdir -p "$lvp_lib"
  llvm_so=$(cd "$src" && ls libLLVM-*.so.1 2>/dev/null | head -1 || true)
  [ -n "$llvm_so" ] || fail "no libLLVM-*.so.1 in $llvm_pkg"
  for f in $lvp_files "$llvm_so"; do cp -L "$src/$f" "$lvp_lib/$f"; done
  echo "$llvm_so" > "$lvp/llvm"
  # Our own ICD file, naming the driver by its absolute path.
  api=$(grep -o '"api_version": *"[^"]*"' "$dir/tmp-lavapipe/usr/share/vulkan/icd.d/lvp_icd.json" | grep -o '[0-9][0-9.]*' || echo 1.3.0)
  printf '{ "file_format_version": "1.0.0", "ICD": { "library_path": "%s", "api_version": "%s" } }\n' "$lvp_lib/libvulkan_lvp.so" "$api" > "$lvp_icd"
  for deb in *.deb; do dpkg-deb -W --showformat='${Package} ${Version}\n' "$deb"; done > "$lvp/versions"
  cd "$dir"
  rm -rf "$dir/tmp-lavapipe" "$debs" "$apt_dir"
  missing=$(LD_LIBRARY_PATH="$lvp_lib" ldd "$lvp_lib/libvulkan_lvp.so" | awk '/not found/ {print $1}' | paste -sd' ' || true)
  [ -z "$missing" ] || fail "lavapipe needs system libraries that are missing: $missing (apt-get install the packages that provide them)"
fi

cat > "$dir/env-lavapipe.sh" <<ENV
# Written by scripts/setup-webgpu.sh --lavapipe: Mesa's lavapipe (Vulkan on the CPU, with
# shader-f16) as the WebGPU adapter: $(paste -sd, "$lvp/versions" | sed 's/,/, /g').
export VK_ICD_FILENAMES="$lvp_icd"
export LD_LIBRARY_PATH="$lvp_lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export MESA_SHADER_CACHE_DIR="$lvp/shader-cache"
ENV
echo "setup-webgpu: lavapipe ready in ${lvp_lib#$root/} (. .cache/webgpu/env-lavapipe.sh)"
