"""The image evaluation's settings guard and its image models (the runs on EfficientNet-Lite0 are
tested through scripts/evaluate_vision.py in tests/test_research_scripts.py)."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch
from torch import nn

from ib_nlp.errors import InvalidInputError
from ib_nlp.evaluation.image import ImageEvaluationSettings, heatmap_figure, run_image_evaluation
from ib_nlp.testing import image_sample
from ib_nlp.vision.models import IMAGE_MODELS, ImageModel, register_image_model


def test_a_run_resumes_with_a_larger_n_but_not_with_other_settings(tmp_path):
    started = ImageEvaluationSettings(n=2, methods=["random"])
    (tmp_path / "settings.json").write_text(json.dumps(asdict(started)))
    ImageEvaluationSettings(n=5, methods=["random"]).check_stored(tmp_path)
    with pytest.raises(InvalidInputError, match=r"other settings \(methods, steps differ\)"):
        ImageEvaluationSettings(n=2, methods=["random", "grad_cam"], steps=10).check_stored(tmp_path)
    ImageEvaluationSettings(n=2, methods=["iba"]).check_stored(tmp_path / "empty")
    with pytest.raises(InvalidInputError, match="unknown image method 'grad_cma' \\(did you mean 'grad_cam'\\?\\)"):
        ImageEvaluationSettings(methods=["random", "grad_cma"])


def tiny_image_classifier() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 8, stride=8), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).eval()


def test_a_users_image_model_is_added_in_one_place_and_the_evaluation_and_heatmaps_use_it(tmp_path):
    normalisation = {"mean": (0.4, 0.5, 0.6), "std": (0.2, 0.25, 0.3)}
    register_image_model("test-tiny-cnn", ImageModel(tiny_image_classifier, layer="1", cam_layer="3", **normalisation))
    try:
        data = image_sample(tmp_path / "sample", 2)
        settings = ImageEvaluationSettings(n=2, methods=["iba", "grad_cam", "random"], reference_n=2, steps=4, options={"iba": {"steps": 2, "samples": 2}}, model="test-tiny-cnn")
        assert (settings.layer, settings.cam_layer) == ("1", "3")
        markdown = run_image_evaluation(settings, data, tmp_path / "run")
        assert markdown.startswith("test-tiny-cnn, 2 ImageNet validation images") and "IBA at 1" in markdown
        assert all(f"| {name} |" in markdown for name in settings.methods)
        records = [json.loads(line) for line in (tmp_path / "run" / "results.0.jsonl").read_text().splitlines()]
        assert len(records) == 2 and all(0 <= record["methods"]["iba"]["deletion_auc"] <= 1 for record in records)
        assert all(0 <= record["methods"]["iba"]["kept_probability"] <= 1 and "kept_probability" not in record["methods"]["grad_cam"] for record in records)
        assert heatmap_figure(settings, data)[:8] == b"\x89PNG\r\n\x1a\n"
        with pytest.raises(InvalidInputError, match="built-in"):
            register_image_model("resnet50", ImageModel(tiny_image_classifier, "1", "3"))
    finally:
        IMAGE_MODELS._entries.pop("test-tiny-cnn")
    with pytest.raises(InvalidInputError, match="unknown image model 'test-tiny-cnn'; available: efficientnet-lite0"):
        ImageEvaluationSettings(model="test-tiny-cnn")


def test_an_image_model_normalises_and_shows_its_pixels_and_names_its_black():
    model = ImageModel(tiny_image_classifier, "1", "3", mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
    pixels = np.random.default_rng(0).integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    expected = (pixels / 255.0 - np.array(model.mean)) / np.array(model.std)
    image = model.normalise(pixels)
    np.testing.assert_allclose(image.permute(1, 2, 0).numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.pixels(image).permute(1, 2, 0).numpy(), pixels / 255.0, atol=1e-6)
    black = model.normalise(np.zeros((1, 1, 3), dtype=np.uint8)).flatten().tolist()
    assert model.black == pytest.approx(black)
