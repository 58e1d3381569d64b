#!/usr/bin/env bash
# Builds the training corpus from public-domain English text shipped as Debian
# packages: the King James Bible (bible-kjv-text, read with the `bible` program
# of bible-kjv) and Ambrose Bierce's The Devil's Dictionary (dict-devil).
# The packages are downloaded and unpacked into a scratch folder, nothing is
# installed. Writes OUT/kjv.txt and OUT/devil.txt (UTF-8, LF) and copies each
# package's copyright file next to them.
#
#   scripts/train/prepare_corpus.sh OUT_DIR
set -euo pipefail
out=${1:?usage: prepare_corpus.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/tessera-corpus.XXXXXX")
chmod 755 "$work"  # apt-get download runs as _apt where it can
trap 'rm -rf "$work"' EXIT

(cd "$work" && apt-get download bible-kjv bible-kjv-text dict-devil >/dev/null)
for deb in "$work"/*.deb; do dpkg -x "$deb" "$work/root"; done
root=$work/root

# The Bible text is stored compressed; the package's own reader prints it.
"$root/usr/bin/bible" -p "$root/usr/lib" -l0 gen1:1-rev22:21 >"$work/kjv.raw"
python3 "$here/prepare_corpus.py" kjv "$work/kjv.raw" "$out/kjv.txt"
python3 "$here/prepare_corpus.py" devil "$root/usr/share/dictd/devil.dict.dz" "$out/devil.txt" \
  --index "$root/usr/share/dictd/devil.index"

cp "$root/usr/share/doc/bible-kjv-text/copyright" "$out/COPYRIGHT.bible-kjv-text"
cp "$root/usr/share/doc/dict-devil/copyright" "$out/COPYRIGHT.dict-devil"
wc -c "$out"/kjv.txt "$out"/devil.txt
