"""The image side's shared pieces: the checked result type, the method base class, and a
user's method or metric added in one place (ib_nlp.vision.base, .methods, .metrics)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from ib_nlp.errors import InvalidInputError
from ib_nlp.vision.base import ImageExplanation, ImageMethod
from ib_nlp.vision.methods import IMAGE_METHODS, load_image_method, register_image_method
from ib_nlp.vision.metrics import (
    IMAGE_METRICS,
    BoundingBoxRatio,
    EffectiveHeatRatio,
    TileDegradation,
    bounding_box_ratio,
    box_fraction,
    effective_heat_ratio,
    load_image_metric,
)


def tiny_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 2, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 3)).eval()


def test_an_image_explanation_checks_its_maps_target_and_probabilities():
    fine = ImageExplanation("m", "bits", torch.zeros(4, 4), 1, [0.2, 0.8])
    assert fine.total == 0.0
    with pytest.raises(InvalidInputError, match=r"scores must be a \(height x width\) tensor"):
        ImageExplanation("m", "bits", torch.zeros(3, 4, 4), 1, [0.2, 0.8])
    with pytest.raises(InvalidInputError, match="target 2 is not a class"):
        ImageExplanation("m", "bits", torch.zeros(4, 4), 2, [0.2, 0.8])
    with pytest.raises(InvalidInputError, match="sum to 1"):
        ImageExplanation("m", "bits", torch.zeros(4, 4), 0, [0.2, 0.2])
    with pytest.raises(InvalidInputError, match="feature_scores"):
        ImageExplanation("m", "bits", torch.zeros(4, 4), 0, [0.5, 0.5], feature_scores=torch.zeros(4))


def test_a_users_image_method_is_added_in_one_place_and_gets_the_checks():
    @register_image_method
    class Brightness(ImageMethod):
        """Scores each pixel by its summed colour values."""

        name, unit = "test_brightness", "value"
        defaults = {"scale": 1.0}

        def attribute(self, batch: torch.Tensor, logits: torch.Tensor, target: int, recorded: Any = None) -> tuple[torch.Tensor, None]:
            return self.options["scale"] * batch[0].sum(dim=0), None

    try:
        image = torch.rand(3, 5, 5, generator=torch.Generator().manual_seed(1))
        explanation = load_image_method("test_brightness", tiny_cnn(), scale=2.0).explain(image, target=2)
        torch.testing.assert_close(explanation.scores, 2.0 * image.sum(dim=0))
        assert explanation.method == "test_brightness" and explanation.target == 2 and explanation.parameters == {"scale": 2.0}
        with pytest.raises(InvalidInputError, match="has no option 'scael' \\(did you mean 'scale'\\?\\)"):
            load_image_method("test_brightness", tiny_cnn(), scael=2.0)
        with pytest.raises(InvalidInputError, match="target 3 is not a class"):
            load_image_method("test_brightness", tiny_cnn()).explain(image, target=3)
        with pytest.raises(InvalidInputError, match="built-in"):
            register_image_method(type("Clash", (Brightness,), {"name": "grad_cam"}))
    finally:
        IMAGE_METHODS._entries.pop("test_brightness")


def test_the_bottleneck_methods_are_ordinary_registry_entries_with_their_options_checked():
    for name in ("iba", "input_iba", "readout"):
        assert issubclass(IMAGE_METHODS.get(name), ImageMethod)
    with pytest.raises(InvalidInputError, match="iba has no option 'betta' \\(did you mean 'beta'\\?\\)"):
        load_image_method("iba", tiny_cnn(), layer="0", reference_images=[torch.zeros(1, 3, 4, 4)], betta=1)
    with pytest.raises(InvalidInputError, match="input_iba has no option 'gan_epoch'"):
        load_image_method("input_iba", tiny_cnn(), layer="0", reference_images=[torch.zeros(1, 3, 4, 4)], gan_epoch=1)


def test_image_metrics_are_looked_up_by_name_with_variants_and_checked_options():
    assert load_image_metric("tiles_14") == TileDegradation(tile=14)
    assert load_image_metric("tiles_8", steps=5) == TileDegradation(tile=8, steps=5)
    assert set(IMAGE_METRICS.names()) >= {"tile_degradation", "image_insertion_deletion", "bounding_box_ratio", "effective_heat_ratio"}
    with pytest.raises(InvalidInputError, match="unknown image metric 'tile_degradaton' \\(did you mean 'tile_degradation'\\?\\)"):
        load_image_metric("tile_degradaton")
    with pytest.raises(InvalidInputError, match="has no option 'stpes'"):
        load_image_metric("tiles_8", stpes=3)
    for name in IMAGE_METRICS.names():
        metric = load_image_metric(name)
        assert metric.info.main in {value.name for value in metric.info.values}


def test_localisation_metrics_apply_only_where_their_protocol_says():
    scores = torch.rand(12, 12, generator=torch.Generator().manual_seed(3))
    small, large = [(2, 3, 6, 7)], [(0, 0, 12, 9)]
    assert box_fraction(small, 12, 12) == pytest.approx(16 / 144) and box_fraction(large, 12, 12) == pytest.approx(0.75) and box_fraction([], 12, 12) == 0.0
    assert BoundingBoxRatio().compute(None, None, scores, 0, small) == {"ratio": bounding_box_ratio(scores, small)}
    assert BoundingBoxRatio().compute(None, None, scores, 0) == {"ratio": None}
    assert EffectiveHeatRatio().compute(None, None, scores, 0, small) == {"auc": effective_heat_ratio(scores, small)}
    assert EffectiveHeatRatio().compute(None, None, scores, 0, large) == {"auc": None}
