#!/usr/bin/env bash
# Puts the verified Banking77 files (train.csv, test.csv, categories.json)
# into this folder. Copies them from $BANKING77_SOURCE when set, otherwise
# downloads the pinned upstream commit; verifies SHA256SUMS either way.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
upstream="https://raw.githubusercontent.com/PolyAI-LDN/task-specific-datasets/57ec275d8078af65b7731c2a98be812d844a6d6b/banking_data"
files=(train.csv test.csv categories.json)

verify() { # file -> 0 when its checksum matches SHA256SUMS
    local want got
    want=$(awk -v f="$1" '$2 == f { print $1 }' "$here/SHA256SUMS")
    got=$(sha256sum "$here/$1.part" | cut -d' ' -f1)
    if [ "$want" != "$got" ]; then
        echo "dataset: $1: sha256 mismatch (expected $want, got $got)" >&2
        return 1
    fi
}

for f in "${files[@]}"; do
    if [ -n "${BANKING77_SOURCE:-}" ]; then
        if [ ! -f "$BANKING77_SOURCE/$f" ]; then
            echo "dataset: BANKING77_SOURCE=$BANKING77_SOURCE has no $f" >&2
            exit 1
        fi
        cp "$BANKING77_SOURCE/$f" "$here/$f.part"
        from="$BANKING77_SOURCE/$f"
    else
        if ! curl -fsSL --retry 3 --connect-timeout 15 -o "$here/$f.part" "$upstream/$f"; then
            echo "dataset: cannot download $upstream/$f" >&2
            echo "dataset: set BANKING77_SOURCE to a folder holding the files to copy them instead" >&2
            rm -f "$here/$f.part"
            exit 1
        fi
        from="$upstream/$f"
    fi
    if ! verify "$f"; then
        rm -f "$here/$f.part"
        echo "dataset: refusing $from: it is not the pinned Banking77 file" >&2
        exit 1
    fi
    mv "$here/$f.part" "$here/$f"
    echo "dataset: $f ok (from $from)"
done
