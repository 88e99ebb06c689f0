#!/bin/sh
# Rebuilds web/static/vendor/roomcast-pb.min.js, the protobuf encoding of the
# browser SDK (web/static/roomcast.js, encoding: "protobuf"), from npm and
# proto/roomcastpb/roomcast.proto:
#
#   make web-proto        (or: cd web/pbjs && npm ci && sh build.sh)
#
# Run it after every change to roomcast.proto (next to `make proto`) and
# commit the result: the demo pages load the bundle as is, with no build
# step. Versions are pinned in package.json / package-lock.json.
set -eu
cd "$(dirname "$0")"
out=../static/vendor
mkdir -p gen "$out"
# Static code (no reflection, no eval: the pages' Content-Security-Policy
# has no 'unsafe-eval'), 64-bit fields as Long, with fromObject/toObject
# for the SDK's protojson-shaped objects.
npx pbjs -t static-module -w esm --force-long --no-create --no-verify --no-delimited \
	--no-typeurl --no-comments --no-service \
	-o gen/roomcast.pb.js ../../proto/roomcastpb/roomcast.proto
npx esbuild entry.js --bundle --format=esm --minify --target=es2020 \
	--legal-comments=none --log-level=warning --outfile="$out/roomcast-pb.min.js"
{
	echo "roomcast-pb.min.js bundles the following packages from npm (built by web/pbjs/build.sh)."
	for p in protobufjs long; do
		v=$(node -p "require('./node_modules/$p/package.json').version")
		echo
		echo "================================================================"
		echo "$p $v"
		echo "================================================================"
		cat "node_modules/$p/LICENSE"
	done
} > "$out/roomcast-pb.LICENSE.txt"
echo "wrote $out/roomcast-pb.min.js ($(wc -c < "$out/roomcast-pb.min.js") bytes)"
