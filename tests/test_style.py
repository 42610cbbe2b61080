"""Neural style transfer: the cost formulas by hand, gradients, and short real runs on a photo and a painting."""
import json
import threading
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from engine.config import StyleSettings
from engine.style.losses import content_cost, gram_matrix, layer_style_cost, style_cost
from engine.style.transfer import StyleTransfer, estimate_memory

from conftest import FIXTURES

ART = FIXTURES / "art"


def rgb(name):
    return cv2.cvtColor(cv2.imread(str(ART / name)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def images():
    return rgb("tubingen_128.jpg"), rgb("starry_night_128.jpg")


def small(**changes):
    return StyleSettings(**{"size": 64, "iterations": 6, "preview_every": 3, **changes})


def test_content_cost_by_hand():
    a_c = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])  # n_C=1, n_H=2, n_W=2
    a_g = torch.tensor([[[[0.0, 2.0], [3.0, 6.0]]]])
    assert content_cost(a_c, a_g).item() == pytest.approx((1 + 0 + 0 + 4) / (4 * 2 * 2 * 1))


def test_gram_and_style_cost_by_hand():
    a = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # n_C=2, n_H=1, n_W=2
    assert gram_matrix(a).tolist() == [[5.0, 11.0], [11.0, 25.0]]
    g_style = torch.tensor([[6.0, 11.0], [11.0, 23.0]])
    expected = (1 + 0 + 0 + 4) / (2 * 1 * 2 * 2) ** 2
    assert layer_style_cost(g_style, a).item() == pytest.approx(expected)
    total = style_cost({"l1": g_style, "l2": g_style}, {"l1": a, "l2": a}, {"l1": 0.5, "l2": 2.0})
    assert total.item() == pytest.approx(2.5 * expected)


def test_the_gradient_reaches_the_pixels_of_g_only(images):
    transfer = StyleTransfer(small(), use_gpu=False)
    content, style = images
    from engine.images import resize_longest
    from engine.style.transfer import to_tensor

    targets = transfer._targets(resize_longest(content, 64), [style], np.array([1.0]))
    generated = to_tensor(resize_longest(content, 64), "cpu").requires_grad_(True)
    cost = transfer._costs(generated, targets)[0]
    cost.backward()
    assert generated.grad is not None and generated.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in transfer.network.parameters())


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_a_short_run_lowers_the_style_cost(images, optimizer):
    progress = []
    transfer = StyleTransfer(small(optimizer=optimizer, iterations=12, learning_rate=5.0), use_gpu=False)
    result = transfer.run(*images[:1], [images[1]], on_progress=progress.append)
    assert result.dtype == np.uint8 and max(result.shape[:2]) == 64
    assert [p.iteration for p in progress] == list(range(1, 13))
    assert progress[-1].style < progress[0].style / 3
    assert progress[2].image is not None and progress[0].image is None


def test_the_same_seed_gives_the_same_image(images):
    first = StyleTransfer(small(), use_gpu=False).run(images[0], [images[1]])
    second = StyleTransfer(small(), use_gpu=False).run(images[0], [images[1]])
    assert np.array_equal(first, second)


def test_cancel_stops_within_one_iteration(images):
    seen = []
    transfer = StyleTransfer(small(iterations=50), use_gpu=False)
    transfer.run(images[0], [images[1]], on_progress=seen.append, should_stop=lambda: len(seen) >= 3)
    assert len(seen) == 3


def test_pause_holds_the_loop_until_resumed_and_is_not_counted_as_work(images, monkeypatch):
    """Behaviour, not speed: the style engine's clock is the test's, and moves only while the run is paused."""
    clock = [0.0]
    monkeypatch.setattr("engine.style.transfer.time", SimpleNamespace(monotonic=lambda: clock[0]))
    seen, held = [], []
    transfer = StyleTransfer(small(iterations=4), use_gpu=False)

    def resume_later():
        held.append(len(seen))  # iterations seen while paused
        clock[0] += 1000.0  # a long pause, as the engine's clock sees it
        transfer.resume.set()

    def pause_after_first(progress):
        seen.append(progress)
        if progress.iteration == 1:
            transfer.resume.clear()
            threading.Timer(0.2, resume_later).start()

    transfer.run(images[0], [images[1]], on_progress=pause_after_first)
    assert held == [1] and len(seen) == 4  # nothing ran while paused; the run went on once resumed
    assert seen[1].elapsed == seen[0].elapsed  # the 1,000 s paused are not work (no other time passed): the ETA holds


def test_cancel_wakes_a_paused_run(images):
    """Behaviour, not speed: a run paused from the start returns once cancelled, without one iteration."""
    transfer = StyleTransfer(small(iterations=50), use_gpu=False)
    transfer.resume.clear()
    cancel, results, iterations = threading.Event(), [], []
    worker = threading.Thread(target=lambda: results.append(transfer.run(
        images[0], [images[1]], on_progress=iterations.append, should_stop=cancel.is_set)))
    worker.start()
    threading.Timer(0.2, cancel.set).start()  # while it waits, paused
    worker.join(timeout=60)  # a run that stayed paused would never return: fail rather than hang
    assert not worker.is_alive() and results[0].shape[2] == 3 and iterations == []


def test_a_style_equal_to_the_content_costs_nothing_at_any_size(images):
    from engine.images import resize_longest
    from engine.style.transfer import to_tensor

    content = resize_longest(images[0], 64)
    transfer = StyleTransfer(small(), use_gpu=False)
    targets = transfer._targets(content, [images[0]], np.array([1.0]))  # the same photo at 128 px
    at_content = transfer._costs(to_tensor(content, "cpu"), targets)[2].item()
    noise = torch.rand((1, 3, *content.shape[:2]), generator=torch.Generator().manual_seed(0)) * 255
    assert at_content < 0.01 * transfer._costs(noise, targets)[2].item()


def test_preserved_colors_are_the_contents(images):
    content = images[0]
    result = StyleTransfer(small(preserve_colors=True), use_gpu=False).run(content, [images[1]])
    chroma = cv2.cvtColor(result, cv2.COLOR_RGB2YCrCb)[..., 1:].astype(float)
    reference = cv2.cvtColor(cv2.resize(content, result.shape[1::-1], interpolation=cv2.INTER_AREA),
                             cv2.COLOR_RGB2YCrCb)[..., 1:].astype(float)
    assert np.abs(chroma - reference).mean() < 3


def test_two_styles_blend_and_memory_estimate_grows_with_size(images):
    transfer = StyleTransfer(small(iterations=2), use_gpu=False)
    out = transfer.run(images[0], [images[1], images[0]], style_weights=[3, 1])
    assert out.shape[2] == 3
    settings = StyleSettings()
    assert estimate_memory(512, 512, settings) > 3 * estimate_memory(256, 256, settings) - 3 * 80_000_000


def test_the_cli_writes_a_png_that_carries_its_recipe(tmp_path, capsys):
    from PIL import Image

    from engine.cli import main

    out = tmp_path / "out.png"
    code = main(["style", str(ART / "tubingen_128.jpg"), str(ART / "starry_night_128.jpg"), "-o", str(out),
                 "--size", "64", "--iters", "3", "--cpu"])
    assert code == 0
    recipe = json.loads(Image.open(out).text["likeness-style"])
    assert recipe["settings"]["iterations"] == 3 and recipe["settings"]["size"] == 64
    assert "style" in capsys.readouterr().err
