"""The fixed train/validation split of the project's photos.

Split by photo, never by crop: near-duplicate pairs (stereo pairs, views of one scene) share a
group and land on the same side. The split is computed once by ``make_split`` and committed as
``split.json``; everything else reads it with ``load_split``, so results are comparable across
sessions. Photos shipped as samples are forced into validation, so the README's pictures show
photos the models never trained on.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

SPLIT_FILE = Path(__file__).with_name("split.json")
VAL_FRACTION = 0.10

# Near-duplicates documented in shared/photos/README.md: group key by regex on the file name.
NEAR_DUPLICATE_GROUPS = {
    r"opencv-doc__data_aero[13]": "aero",
    r"opencv-doc__data_aloe[LR]": "aloe",
    r"opencv-doc__data_graf[13]": "graf",
    r"opencv-doc__data_leuven[AB]": "leuven",
    r"opencv-doc__data_(left|right)\.": "leftright",
    r"opencv-doc__data_rubberwhale[12]": "rubberwhale",
    r"scikit-image__motorcycle_(left|right)": "motorcycle",
}

# Photos bundled as samples (licences allow redistribution, samples/LICENSES.md); always
# validation. The one list of them: the demo, the page and the sheets read it (sample_photos).
SAMPLES_DIR = Path(__file__).resolve().parents[1] / "samples"
SAMPLE_PHOTOS = [
    "scikit-image__astronaut.jpg",
    "scikit-image__chelsea.jpg",
    "scikit-image__coffee.jpg",
    "libjxl-testdata__cvo9xd_keong_macan_srgb8.jpg",
    "libjxl-testdata__tmshre_riaphotographs_srgb8.jpg",
]


def sample_photos() -> list[Path]:
    """The bundled sample photos, sorted by name."""
    return sorted(SAMPLES_DIR / name for name in SAMPLE_PHOTOS)


def group_of(name: str) -> str:
    """The group a photo belongs to (its own name unless it is a known near-duplicate)."""
    for pattern, group in NEAR_DUPLICATE_GROUPS.items():
        if re.match(pattern, name):
            return group
    return name


def make_split(names: list[str], val_fraction: float = VAL_FRACTION) -> dict[str, list[str]]:
    """Deterministic split: a group goes to validation when its hash falls below the fraction."""
    val, train = [], []
    for name in sorted(names):
        digest = hashlib.sha256(group_of(name).encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        (val if u < val_fraction or name in SAMPLE_PHOTOS else train).append(name)
    return {"train": train, "val": val}


def load_split() -> dict[str, list[str]]:
    """The committed split: {"train": [...], "val": [...]} (file names in shared/photos)."""
    return json.loads(SPLIT_FILE.read_text())


if __name__ == "__main__":  # python -m restorable.data.split /path/to/shared/photos
    import csv
    import sys

    folder = Path(sys.argv[1])
    rows = list(csv.DictReader(open(folder / "MANIFEST.csv")))
    split = make_split([r["file"] for r in rows])
    SPLIT_FILE.write_text(json.dumps(split, indent=1) + "\n")
    print(f"train {len(split['train'])}, val {len(split['val'])} -> {SPLIT_FILE}")
