"""label_boxes (numpy, one pass) equals scipy.ndimage.find_objects on random label maps.

The worker processes use the numpy version so that they start without importing scipy; the
crop of every lesion depends on these boxes, so they must be the same on every input:
any integer dtype, negative values (not labels), absent labels, one voxel, empty maps.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage

from radiorisk.imaging._crop import label_boxes

DTYPES = [np.uint8, np.uint16, np.uint32, np.int8, np.int16, np.int32, np.int64]


def _reference(label_map: np.ndarray) -> list:
    if label_map.size == 0 or label_map.max() <= 0:
        return []
    return ndimage.find_objects(np.where(label_map < 0, 0, label_map).astype(np.int64))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_label_boxes_equal_find_objects(data):
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    shape = data.draw(hnp.array_shapes(min_dims=3, max_dims=3, min_side=0, max_side=9), label="shape")
    info = np.iinfo(dtype)
    values = st.integers(max(int(info.min), -3), min(int(info.max), 12))
    sparse = data.draw(st.booleans(), label="sparse")
    arr = data.draw(hnp.arrays(dtype, shape, elements=st.sampled_from([0, 0, 0, 0, 1, 3]) if sparse else values),
                    label="labels")
    assert label_boxes(arr) == _reference(arr)


def test_label_boxes_of_a_full_size_sparse_mask():
    rng = np.random.default_rng(4)
    arr = np.zeros((64, 128, 128), np.uint8)
    for k in (1, 2, 5, 9):
        z, y, x = rng.integers(0, 60), rng.integers(0, 120), rng.integers(0, 120)
        arr[z:z + 4, y:y + 7, x:x + 3] = k
    arr[arr == 5] = 0  # label 5 absent, 3 and 4 never drawn
    boxes = label_boxes(arr)
    assert boxes == _reference(arr) and len(boxes) == 9 and boxes[4] is None and boxes[2] is None


def test_label_boxes_of_non_contiguous_views():
    arr = np.zeros((6, 7, 8), np.int16)
    arr[1:3, 2:5, 1] = 2
    arr[4, 0, 7] = 1
    view = arr[:, ::-1, ::2]  # not C-contiguous
    assert label_boxes(view) == _reference(view)
