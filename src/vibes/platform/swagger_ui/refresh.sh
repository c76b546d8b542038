#!/bin/sh
# Refresh the vendored Swagger UI (served at /docs, so the docs work offline) from the npm
# registry: `sh refresh.sh 5.35.0`, then update VERSION in README.md beside this script,
# check /docs in a browser, and commit the changed files with SHA256SUMS.
# Needs npm (only to fetch the package; nothing of Node runs at run time).
set -eu
version="${1:?usage: refresh.sh VERSION}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "swagger-ui-dist@$version" >/dev/null && tar xzf swagger-ui-dist-*.tgz)
for file in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css \
    favicon-32x32.png LICENSE NOTICE; do
    cp "$work/package/$file" "$here/$file"
done
(cd "$here" && sha256sum swagger-ui-bundle.js swagger-ui.css favicon-32x32.png > SHA256SUMS)
echo "swagger-ui-dist $version vendored into $here"
