# Source this file: makes Node >= 22 and pnpm 10 available on PATH, installing them from the npm
# registry into a user cache when the machine has neither (a bare machine has only Node 20).
# Usage: source scripts/bootstrap.sh
ferry_tools="${FERRY_TOOLS_DIR:-$HOME/.cache/ferry-tools}"
ferry_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ -x "$ferry_tools/node_modules/.bin/node" ]; then
  export PATH="$ferry_tools/node_modules/.bin:$PATH"
fi
if [ "$(ferry_node_major)" -lt 22 ] || ! command -v pnpm >/dev/null 2>&1; then
  echo "bootstrap: installing Node 24 and pnpm 10 into $ferry_tools" >&2
  mkdir -p "$ferry_tools"
  npm install --prefix "$ferry_tools" --no-audit --no-fund --loglevel=error node@24 pnpm@10 >&2
  export PATH="$ferry_tools/node_modules/.bin:$PATH"
fi
if [ "$(ferry_node_major)" -lt 22 ]; then
  echo "bootstrap: Node >= 22 is required and could not be installed (node --version: $(node --version 2>&1))" >&2
  return 1 2>/dev/null || exit 1
fi
echo "bootstrap: node $(node --version), pnpm $(pnpm --version)" >&2
