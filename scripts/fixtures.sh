#!/usr/bin/env bash
# Real documents the OpenAPI tests and benchmark read, fetched once into target/fixtures from
# the npm registry at a pinned version: GitHub's REST API description from @octokit/openapi
# (only api.github.com.json, about 13 MB, is kept from its 29 MB package).
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=target/fixtures
VERSION=23.0.2
if [ -s "$DEST/api.github.com.json" ] && [ "$(cat "$DEST/octokit-openapi.version" 2>/dev/null)" = "$VERSION" ]; then
  exit 0
fi
echo "== fetching @octokit/openapi@$VERSION (npm) into $DEST"
mkdir -p "$DEST"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "@octokit/openapi@$VERSION" >/dev/null)
tar -xzf "$WORK"/octokit-openapi-"$VERSION".tgz -C "$WORK" package/generated/api.github.com.json
mv "$WORK/package/generated/api.github.com.json" "$DEST/api.github.com.json"
echo "$VERSION" > "$DEST/octokit-openapi.version"
