"""Near-duplicate robustness benchmark (issue 18): recall, false matches and the distance margin
per class of edit, on every real photograph the installed wheels carry.

* `tests.support.bundled_photos`: the photographs (scikit-image, scikit-learn, matplotlib,
  PyWavelets: files inside the wheels, never downloaded) and 3:2 / 4:3 tiles of them; mostly
  uniform half-size tiles are distractors.
* `tests.support.edit_classes` (with `image_edits`, `image_overlays`): the edit classes and
  their goals, with parameters drawn from one numpy Generator per (seed, photo, class), so a
  photo's variants do not depend on which photos or classes run. They live in tests/support so
  that tests of the matching can make the same edits.
* `matcher`: the registry's own matching (`hash_image`, `query_hashes`, `CaptureIndex`,
  `judge`, `rank`), plus the exhaustive nearest-wrong-image distances behind the margins.
* `run`: the tallies and the report; `cli`: the command line.

    .venv/bin/python -m bench.robustness                # tune seed (18), ~5 minutes
    .venv/bin/python -m bench.robustness --seed 4711    # the report seed: never tune on it
    .venv/bin/python -m bench.robustness --quick        # 8 photos, 1 variant: a smoke test
        [--classes "crop 80-95%" screenshot] [--limit N] [--variants N] [--jobs 2]
        [--photos chelsea.png "retina.jpg[0,0]"] [--add DIR_OF_YOUR_PHOTOS] [--out JSON]

A hit is the right original as the top accepted match. A false match is a lookup (of an edited
copy, of a distractor, or of a registered image's own bytes) that accepts a different image.
"""
