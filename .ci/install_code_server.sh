#!/usr/bin/env bash
# Installs code-server (VS Code 1.100 on Node 20, from the npm registry) once, outside the
# repository, for tests/test_vscode_browser.py: ~/.cache/cove/code-server/VERSION (or
# $COVE_CODE_SERVER_HOME/VERSION). A second run finds it and returns at once.
#
# Its own install scripts would download ripgrep from GitHub and build native modules that
# need Kerberos headers, so it is installed with --ignore-scripts, Debian's `rg` is put where
# @vscode/ripgrep expects its binary, and the native modules are rebuilt here (node-gyp, with
# the Node headers from Debian's nodejs). Needs: node 20, npm, g++, make, rg (ripgrep) and
# krb5-config (libkrb5-dev); .ci/run installs them with apt-get.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="$(sed -n 's/.*"code-server": "\([^"]*\)".*/\1/p' "$here/code-server/package.json")"
home="${COVE_CODE_SERVER_HOME:-$HOME/.cache/cove/code-server}"
dest="$home/$version"
entry="$dest/node_modules/code-server/out/node/entry.js"

if [ -f "$dest/.installed" ]; then
  echo "code-server $version is installed in $dest"
  exit 0
fi
for tool in node npm g++ make rg krb5-config; do
  command -v "$tool" >/dev/null || {
    echo "install_code_server: '$tool' is missing: apt-get install nodejs npm g++ make ripgrep libkrb5-dev" >&2
    exit 1
  }
done
export npm_config_yes=true npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
# node-gyp takes Node's headers from here instead of downloading them.
[ -d /usr/include/node ] && export npm_config_nodedir=/usr

mkdir -p "$home"
work="$(mktemp -d "$home/.install.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp "$here/code-server/package.json" "$here/code-server/package-lock.json" "$work/"
cd "$work"
npm ci --ignore-scripts --no-audit --no-fund

cd "$work/node_modules/code-server/lib/vscode"
# Its npm-shrinkwrap.json is out of step with its package.json (npm ci refuses it); install follows it where it can.
npm install --omit=dev --ignore-scripts --no-audit --no-fund
mkdir -p node_modules/@vscode/ripgrep/bin
cp "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
npm rebuild kerberos node-pty @parcel/watcher @vscode/spdlog @vscode/deviceid native-watchdog
ln -s node_modules node_modules.asar
(cd extensions && npm install --omit=dev --ignore-scripts --no-audit --no-fund --no-package-lock)

cd "$work"
npm rebuild argon2
node "$work/node_modules/code-server/out/node/entry.js" --version
touch "$work/.installed"
rm -rf "$dest"
mv "$work" "$dest"
trap - EXIT
echo "code-server $version is installed in $dest (entry point: $entry)"
