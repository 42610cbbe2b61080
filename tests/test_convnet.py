"""What VGG19 units respond to: top-9 patches over the image set shipped in resources/."""
import numpy as np
import torch

from engine.convnet import (PATCH_PX, POOLING, SAMPLES, load_scaled, receptive_field, scan_folder, top_patches,
                            top_patches_grid)
from engine.style.vgg import load_vgg19


def test_receptive_fields_of_vgg19():
    assert receptive_field("conv1_1")[:2] == (3, 1)
    assert receptive_field("conv2_1")[:2] == (10, 2)
    assert receptive_field("conv3_1")[:2] == (24, 4)
    assert receptive_field("conv4_4")[:2] == (116, 8)
    assert receptive_field("conv5_1")[:2] == (156, 16)


def test_the_nine_patches_are_the_strongest_responses():
    scan = scan_folder("conv2_1")
    unit = 7
    top = scan.top(unit)
    assert len(top) == 9 and [t[3] for t in top] == sorted((t[3] for t in top), reverse=True)
    # brute force on the best image and on one image outside the top nine
    network = load_vgg19("cpu", POOLING)
    outside = next(i for i in range(len(scan.image_paths)) if i not in {t[0] for t in top})
    with torch.no_grad():
        def response(i):
            image = torch.from_numpy(load_scaled(scan.image_paths[i])).permute(2, 0, 1)[None].float()
            return network(image, ["conv2_1"])["conv2_1"][0, unit]
        best = response(top[0][0])
        assert np.isclose(best.max().item(), top[0][3], rtol=1e-5)
        assert best[top[0][1], top[0][2]].item() == best.max().item()
        assert response(outside).max().item() <= top[-1][3] + 1e-5
    patches = top_patches(scan, unit)
    assert len(patches) == 9 and all(p.shape == (PATCH_PX, PATCH_PX, 3) for p in patches)


def test_a_second_look_comes_from_the_cache_and_the_grid_has_a_row_per_unit():
    first = scan_folder("conv1_1")
    again = scan_folder("conv1_1")
    assert np.array_equal(first.peaks, again.peaks) and len(first.image_paths) == len(list(SAMPLES.glob("*.jpg")))
    grid = top_patches_grid(again, [0, 1, 2])
    assert grid.shape[0] == 3 * (PATCH_PX + 4) and grid.shape[1] == 9 * (PATCH_PX + 4)


def test_a_scan_can_be_cancelled_between_images(tmp_path):
    import shutil

    import pytest

    from engine.errors import Cancelled

    for name in sorted(SAMPLES.iterdir())[:3]:
        shutil.copy(name, tmp_path / name.name)
    seen = []
    with pytest.raises(Cancelled):
        scan_folder("conv1_1", tmp_path, on_progress=lambda done, total: seen.append(done),
                    should_stop=lambda: len(seen) >= 1)
    assert seen == [1]  # stopped before the second image
