"""One list of the bundled sample photos (data/split.py): it is what the folder holds, and the
demo, the page and the sheets read it."""

from __future__ import annotations

from restorable.data.split import SAMPLE_PHOTOS, SAMPLES_DIR, load_split, sample_photos
from restorable.files import list_images


def test_the_sample_list_is_the_folder() -> None:
    assert sample_photos() == list_images(SAMPLES_DIR)
    assert sorted(p.name for p in sample_photos()) == sorted(SAMPLE_PHOTOS)


def test_the_page_and_the_sheets_read_the_one_list() -> None:
    from restorable.evaluation.sheets import DEFAULT_PHOTO

    assert DEFAULT_PHOTO in sample_photos()
    # never trained on: the README's pictures show held-out photos
    assert not set(SAMPLE_PHOTOS) & set(load_split()["train"])
