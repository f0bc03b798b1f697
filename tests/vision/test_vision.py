"""Vision IBA on small CNNs built here: smoothing, statistics, bits maps, and the checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from ib_nlp.errors import InvalidInputError, LayerNotReadError, OptimisationError, StatisticsError
from ib_nlp.core.statistics import FeatureStatistics
from ib_nlp.vision import VisionIBA, estimate_feature_statistics, gaussian_kernel, smooth
from ib_nlp.vision.base import ImageExplanation
from ib_nlp.vision.models import image_model
from ib_nlp.vision.methods import IMAGE_METHODS, image_method_names, load_image_method
from ib_nlp.vision.metrics import (
    ImageInsertionDeletion,
    TileDegradation,
    bounding_box_ratio,
    effective_heat_ratio,
    tile_means,
)


class LeftHalfCNN(nn.Module):
    """Two 1x1 convolutions that pass the colour channels through; the head reads only the mean
    of channel 0 over the left half of the second feature map: a bright left half is class 1."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Conv2d(3, 4, 1)
        self.features = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(), nn.Conv2d(4, 4, 1), nn.ReLU())
        self.head = nn.Linear(1, 2)
        with torch.no_grad():
            for conv in (self.features[0], self.features[2]):
                conv.weight.zero_()
                conv.bias.zero_()
                for channel in range(3):
                    conv.weight[channel, channel] = 1.0
            self.head.weight.copy_(torch.tensor([[0.0], [4.0]]))
            self.head.bias.copy_(torch.tensor([0.0, -2.4]))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.unused(images)
        features = self.features(images)
        left = features[:, :1, :, : features.shape[-1] // 2]
        return self.head(left.mean(dim=(1, 2, 3)).unsqueeze(-1))


def images(count: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(count, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def model() -> LeftHalfCNN:
    return LeftHalfCNN().eval()


def test_smoothing_is_the_reference_kernel_and_matches_scipy():
    """The reference's kernel is round(2 sigma) * 2 + 1 wide with reflected borders: scipy's
    'mirror' mode (the edge cell is not repeated) truncated at 2 sigma."""
    assert [gaussian_kernel(sigma).shape[0] for sigma in (0.5, 1.0, 1.5, 2.0)] == [3, 5, 7, 9]
    kernel = gaussian_kernel(1.0)
    assert float(kernel.sum()) == pytest.approx(1.0)
    mask = torch.rand(1, 2, 9, 11, generator=torch.Generator().manual_seed(0))
    expected = np.stack([ndimage.gaussian_filter(mask[0, c].numpy(), sigma=1.0, mode="mirror", truncate=2.0) for c in range(2)])
    np.testing.assert_allclose(smooth(mask, 1.0)[0].numpy(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(smooth(torch.full((1, 3, 5, 5), 0.7), 1.0), torch.full((1, 3, 5, 5), 0.7))
    assert smooth(mask, 0) is mask


def test_statistics_are_the_mean_and_std_of_every_feature_element(model):
    batches = [images(4, seed) for seed in range(3)]
    stats = estimate_feature_statistics(model, "features.2", batches)
    with torch.no_grad():
        features = torch.cat([model.features[:3](batch) for batch in batches]).flatten(1).double().numpy()
    np.testing.assert_allclose(stats.mean.numpy(), features.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats.std.numpy(), features.std(axis=0), rtol=1e-4, atol=1e-5)
    assert stats.count == 12 and stats.metadata["shape"] == "4x16x16"


def test_bits_concentrate_where_the_head_reads_and_the_map_keeps_the_total(model):
    explainer = VisionIBA(model, "features.2", reference_images=[images(16)], beta=1, steps=10)
    image = images(1, seed=5)[0]
    image[0] = 2.0 + 0.1 * image[0]  # a bright channel 0 on both sides; the head reads only the left
    explanation = explainer.explain(image)
    cells = explanation.feature_scores
    assert cells.shape == (16, 16) and explanation.scores.shape == (16, 16) and bool((cells >= 0).all())
    assert float(cells[:, :8].sum()) > 5 * float(cells[:, 8:].sum())
    assert explanation.total == pytest.approx(float(cells.sum()), rel=1e-4) and explanation.unit == "bits"
    again = explainer.explain(image)
    torch.testing.assert_close(again.feature_scores, cells)
    assert explanation.target == int(torch.tensor(explanation.probabilities).argmax()) and explanation.layer == "features.2"


def test_the_explanation_records_what_the_bottleneck_kept_of_the_prediction(model):
    image = images(1, seed=5)[0]
    image[0] = 2.0 + 0.1 * image[0]
    free = VisionIBA(model, "features.2", reference_images=[images(16)], beta=0, steps=3, samples=200).explain(image)
    assert free.kept_probability == pytest.approx(free.probabilities[free.target], abs=0.02)  # a nearly open bottleneck keeps the model's own
    dear = VisionIBA(model, "features.2", reference_images=[images(16)], beta=1e4, steps=10, samples=200).explain(image)
    assert dear.kept_probability < free.kept_probability - 0.2
    with pytest.raises(InvalidInputError, match="kept_probability"):
        ImageExplanation("m", "bits", torch.zeros(4, 4), 1, [0.2, 0.8], kept_probability=1.5)


def test_a_layer_the_classifier_does_not_read_is_an_error(model):
    with pytest.raises(LayerNotReadError, match="never reads"):
        VisionIBA(model, "unused", reference_images=[images(4)]).explain(images(1)[0])


def test_bad_input_is_refused_with_the_reason(model):
    with pytest.raises(InvalidInputError, match="no module named 'features.9'"):
        VisionIBA(model, "features.9", reference_images=[images(2)])
    with pytest.raises(InvalidInputError, match="exactly one of statistics= or reference_images="):
        VisionIBA(model, "features.2")
    other = estimate_feature_statistics(model, "features.2", [torch.randn(2, 3, 8, 8)])
    with pytest.raises(StatisticsError, match="another layer, model or image size"):
        VisionIBA(model, "features.2", statistics=other).explain(images(1)[0])
    with pytest.raises(InvalidInputError, match="one image of shape"):
        VisionIBA(model, "features.2", statistics=other).explain(images(2))
    with pytest.raises(InvalidInputError, match="unknown image model 'resnet51' \\(did you mean 'resnet50'\\?\\); available: efficientnet-lite0, "):
        image_model("resnet51")


def test_torchvision_presets_name_the_papers_layers():
    try:
        import torchvision  # noqa: F401
    except Exception as error:  # its compiled ops need CUDA libraries next to a CPU-only torch
        pytest.skip(f"torchvision cannot be imported here ({type(error).__name__}); the presets are tested where it can")
    vgg = image_model("vgg16")
    modules = dict(vgg.load(weights=None).named_modules())
    assert isinstance(modules[vgg.layer], nn.Conv2d) and (modules[vgg.layer].in_channels, modules[vgg.layer].out_channels) == (256, 512)
    last_convolution = [name for name, module in modules.items() if isinstance(module, nn.Conv2d)][-1]
    assert isinstance(modules[vgg.cam_layer], nn.ReLU) and vgg.cam_layer == f"features.{int(last_convolution.split('.')[1]) + 1}"  # the last convolution's ReLU
    resnet = image_model("resnet50")
    modules = dict(resnet.load(weights=None).named_modules())
    assert (resnet.layer, resnet.cam_layer) == ("layer3", "layer4") and {resnet.layer, resnet.cam_layer} <= set(modules)
    assert image_model("resnet50-layer2").layer == "layer2"


@pytest.mark.parametrize("name", ["vgg16", "resnet50", "resnet50-layer2"])
def test_iba_explains_at_each_torchvision_preset(name):
    """IBA at each paper layer of a randomly initialised torchvision model: a finite bits map at
    the input resolution (no weights are downloaded; the science is tested on the small CNNs)."""
    try:
        import torchvision  # noqa: F401
    except Exception as error:
        pytest.skip(f"torchvision cannot be imported here ({type(error).__name__}); the presets are tested where it can")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    preset = image_model(name)
    model, layer = preset.load(weights=None).to(device), preset.layer
    batches = [torch.randn(4, 3, 224, 224, generator=torch.Generator().manual_seed(seed)).to(device) for seed in range(2)]
    explanation = VisionIBA(model, layer, reference_images=batches, steps=3).explain(batches[0][0], target=1)
    assert explanation.scores.shape == (224, 224)
    assert torch.isfinite(explanation.scores).all() and float(explanation.scores.min()) >= 0 and float(explanation.scores.sum()) > 0


@pytest.fixture(scope="module")
def bright_left() -> torch.Tensor:
    image = images(1, seed=5)[0]
    image[0] = 2.0 + 0.1 * image[0]
    return image


@pytest.mark.parametrize("name", [name for name in image_method_names() if name not in ("iba", "input_iba", "readout")])
def test_every_image_method_returns_a_map_at_the_input_resolution(model, bright_left, name):
    """The baselines and their variants (IBA, InputIBA and the readout need references or training; own tests)."""
    options = {"samples": 4} if name == "smoothgrad" else {}
    explanation = load_image_method(name, model, **options).explain(bright_left)
    assert explanation.scores.shape == (16, 16) and bool(torch.isfinite(explanation.scores).all())
    assert explanation.method == IMAGE_METHODS.base(name) and explanation.target == 1


def mixed_sign_cnn() -> nn.Module:
    """A small random CNN whose input gradients take both signs."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 3)).eval()


def test_absolute_variants_sum_absolute_channel_values():
    from captum.attr import IntegratedGradients as CaptumIG

    cnn, image = mixed_sign_cnn(), images(1, seed=7)[0]
    target = int(cnn(image[None]).argmax())
    inputs = image[None].clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(cnn(inputs)[0, target], inputs)
    integrated = CaptumIG(cnn).attribute(image[None], baselines=torch.zeros(1, 3, 16, 16), target=target, n_steps=20)
    expected = {"gradient": gradient[0], "integrated_gradients": integrated[0].detach()}
    for name, per_channel in expected.items():
        options = {"steps": 20} if name == "integrated_gradients" else {}
        signed = load_image_method(name, cnn, **options).explain(image, target).scores
        absolute = load_image_method(f"{name}_abs", cnn, **options).explain(image, target).scores
        assert float(signed.min()) < 0, name
        torch.testing.assert_close(signed, per_channel.sum(dim=0), rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(absolute, per_channel.abs().sum(dim=0), rtol=1e-4, atol=1e-6)
    guided = load_image_method("guided_backprop_abs", cnn).explain(image, target).scores
    cam = load_image_method("grad_cam", cnn).explain(image, target).scores
    torch.testing.assert_close(load_image_method("guided_grad_cam_abs", cnn).explain(image, target).scores, guided * cam)
    assert bool((guided >= 0).all()) and float(guided.sum()) > float(load_image_method("guided_backprop", cnn).explain(image, target).scores.sum())
    with pytest.raises(InvalidInputError, match="absolute must be true or false"):
        load_image_method("gradient", cnn, absolute="yes")


def test_image_methods_refuse_options_they_do_not_take(model):
    with pytest.raises(InvalidInputError, match=r"integrated_gradients has no option 'stpes' \(did you mean 'steps'\?\); its options: steps, absolute"):
        load_image_method("integrated_gradients", model, stpes=10)
    with pytest.raises(InvalidInputError, match="saliency has no option 'absolute'; its options: none"):
        load_image_method("saliency", model, absolute=True)
    assert load_image_method("occlusion_14", model).options == {"tile": 14, "batch_size": None}


def test_gradient_methods_see_only_what_the_head_reads(model, bright_left):
    for name in ("gradient", "saliency", "integrated_gradients"):
        scores = load_image_method(name, model).explain(bright_left).scores
        assert float(scores[:, 8:].abs().sum()) == 0.0 and float(scores[:, :8].abs().sum()) > 0, name


def test_integrated_gradients_are_complete(model, bright_left):
    scores = load_image_method("integrated_gradients", model, steps=200).explain(bright_left, target=1).scores
    with torch.no_grad():
        difference = model(bright_left[None])[0, 1] - model(torch.zeros(1, 3, 16, 16))[0, 1]
    assert float(scores.sum()) == pytest.approx(float(difference), rel=1e-3)


def test_occlusion_is_the_probability_drop_of_each_tile(model, bright_left):
    scores = load_image_method("occlusion", model).explain(bright_left, target=1).scores
    with torch.no_grad():
        base = torch.softmax(model(bright_left[None]), -1)[0, 1]
        occluded = bright_left.clone()
        occluded[:, 8:16, 0:8] = 0
        drop = base - torch.softmax(model(occluded[None]), -1)[0, 1]
    assert float(scores[8, 0]) == pytest.approx(float(drop), rel=1e-5) and float(scores[:, 8:].abs().max()) == 0.0
    one_at_a_time = load_image_method("occlusion", model, tile=4, batch_size=1).explain(bright_left, target=1).scores
    batched = load_image_method("occlusion", model, tile=4, batch_size=5).explain(bright_left, target=1).scores
    torch.testing.assert_close(batched, one_at_a_time)
    with pytest.raises(InvalidInputError, match="batch_size >= 1"):
        load_image_method("occlusion", model, batch_size=0).explain(bright_left)


def test_grad_cam_reads_the_last_convolution_and_keeps_its_grid(model, bright_left):
    explanation = load_image_method("grad_cam", model).explain(bright_left)
    assert explanation.layer == "features.2" and explanation.feature_scores.shape == (16, 16) and bool((explanation.scores >= 0).all())


def test_image_registry_refuses_unknown_names_and_runs_iba(model, bright_left):
    with pytest.raises(InvalidInputError, match="unknown image method 'lrp'"):
        load_image_method("lrp", model)
    with pytest.raises(InvalidInputError, match="'unused' does not influence the target"):
        load_image_method("grad_cam", model, layer="unused").explain(bright_left)
    explanation = load_image_method("iba", model, layer="features.2", reference_images=[images(8)]).explain(bright_left)
    assert explanation.unit == "bits" and explanation.scores.shape == (16, 16)
    random_a, random_b = (load_image_method("random", model, seed=3).explain(bright_left).scores for _ in range(2))
    torch.testing.assert_close(random_a, random_b)


def test_tile_means_are_numpy_block_means():
    scores = torch.rand(16, 24, generator=torch.Generator().manual_seed(0))
    expected = scores.numpy().reshape(2, 8, 3, 8).mean(axis=(1, 3))
    np.testing.assert_allclose(tile_means(scores, 8).numpy(), expected, rtol=1e-6)
    with pytest.raises(InvalidInputError, match="not a whole number of 14x14 tiles"):
        tile_means(scores, 14)


def test_tile_degradation_rewards_the_map_that_points_at_the_read_half(model, bright_left):
    metric = TileDegradation(tile=4, steps=16)
    good = torch.zeros(16, 16)
    good[:, :8] = 1.0
    right = metric.compute(model, bright_left, good, target=1)
    wrong = metric.compute(model, bright_left, 1.0 - good, target=1)
    assert right["morf"][0] == pytest.approx(1.0) and right["morf"][-1] == pytest.approx(0.0) and right["lerf"][-1] == pytest.approx(0.0)
    assert right["lerf_minus_morf"] > 0.3 and wrong["lerf_minus_morf"] < -0.3
    with torch.no_grad():
        probability = lambda x: float(torch.softmax(model(x[None]).detach(), -1)[0, 1])  # noqa: E731
        start, end = probability(bright_left), probability(torch.zeros_like(bright_left))
        half = bright_left.clone()
        half[:, :, :8] = 0.0
    assert right["morf"][8] == pytest.approx((probability(half) - end) / (start - end), rel=1e-5)
    assert TileDegradation.info.value("lerf_minus_morf").higher_is_better


def test_bounding_box_ratio_counts_the_top_pixels_inside_the_box():
    scores = torch.zeros(10, 10)
    scores[2:5, 3:7] = 1.0
    assert bounding_box_ratio(scores, [(3, 2, 7, 5)]) == 1.0
    assert bounding_box_ratio(1.0 - scores, [(3, 2, 7, 5)]) == 0.0
    ramp = torch.arange(100, dtype=torch.float32).view(10, 10)
    box = [(0, 8, 10, 10)]
    assert bounding_box_ratio(ramp, box) == 1.0 and bounding_box_ratio(-ramp, box) == 0.0
    with pytest.raises(InvalidInputError, match="cover no pixel"):
        bounding_box_ratio(scores, [(20, 20, 30, 30)])


def test_effective_heat_ratio_matches_a_straightforward_loop():
    scores = torch.rand(12, 12, generator=torch.Generator().manual_seed(2))
    box = [(2, 3, 8, 9)]
    values = scores.numpy().astype(np.float64).ravel()
    values = (values - values.min()) / (values.max() - values.min())
    inside = np.zeros((12, 12), bool)
    inside[3:9, 2:8] = True
    inside = inside.ravel()
    quantiles = np.linspace(0, 1, 50, endpoint=False)
    ratios = []
    for q in quantiles:
        level = np.quantile(values, q)
        above = values >= level
        ratios.append(values[above & inside].sum() / above.sum())
    expected = np.trapezoid(ratios, quantiles) / quantiles[-1]
    assert effective_heat_ratio(scores, box, thresholds=50) == pytest.approx(expected, rel=1e-9)
    focused = torch.zeros(12, 12)
    focused[3:9, 2:8] = 1.0
    assert effective_heat_ratio(focused, box) > effective_heat_ratio(scores, box)


def test_insertion_starts_from_the_blurred_image_and_deletion_ends_black(model, bright_left):
    metric = ImageInsertionDeletion(steps=8, blur_sigma=2.0)
    blurred = metric.blurred(bright_left)
    expected = np.stack([ndimage.gaussian_filter(bright_left[c].numpy(), sigma=2.0, mode="mirror", truncate=3.0) for c in range(3)])
    np.testing.assert_allclose(blurred.numpy(), expected, rtol=1e-4, atol=1e-5)
    result = metric.compute(model, bright_left, torch.rand(16, 16, generator=torch.Generator().manual_seed(1)), target=1)
    with torch.no_grad():
        probability = lambda x: float(torch.softmax(model(x[None]).detach(), -1)[0, 1])  # noqa: E731
    assert result["deletion"][0] == pytest.approx(probability(bright_left)) and result["deletion"][-1] == pytest.approx(probability(torch.zeros_like(bright_left)))
    assert result["insertion"][0] == pytest.approx(probability(blurred)) and result["insertion"][-1] == pytest.approx(probability(bright_left))
    assert 0.0 <= result["deletion_auc"] <= 1.0 and 0.0 <= result["insertion_auc"] <= 1.0
    per_channel = ImageInsertionDeletion(steps=8, blur_sigma=2.0, black=(2.0, -0.5, 1.0)).compute(model, bright_left, torch.rand(16, 16), target=1)
    black = torch.tensor([2.0, -0.5, 1.0]).view(3, 1, 1).expand_as(bright_left)
    assert per_channel["deletion"][-1] == pytest.approx(probability(black)) and probability(black) != pytest.approx(probability(torch.zeros_like(bright_left)))


def test_imagenet_sample_crops_to_224_and_moves_the_boxes_into_the_crop(tmp_path):
    from PIL import Image

    from ib_nlp.vision.models import imagenet_sample

    (tmp_path / "images").mkdir()
    pixels = np.zeros((256, 300, 3), np.uint8)
    pixels[:, :, 0] = 255
    Image.fromarray(pixels).save(tmp_path / "images" / "a.jpg", quality=95)
    (tmp_path / "boxes.csv").write_text(
        "image_id,wnid,class_index,x0,y0,x1,y1,orig_width,orig_height,width,height\n"
        "a,n1,7,10,20,100,120,600,512,300,256\n"
        "a,n1,7,0,0,30,10,600,512,300,256\n"
    )
    (item,) = list(imagenet_sample(tmp_path))
    assert item.image.shape == (3, 224, 224) and item.label == 7
    assert float(item.image[0].mean()) == pytest.approx(1.0, abs=0.02) and float(item.image[2].mean()) == pytest.approx(-1.0, abs=0.02)
    assert item.boxes == [(0.0, 4.0, 62.0, 104.0)]
    assert item.box_fraction == pytest.approx(62 * 100 / 224**2)
    with pytest.raises(InvalidInputError, match="no boxes.csv"):
        list(imagenet_sample(tmp_path / "images"))


def test_efficientnet_lite0_loads_offline_and_exposes_the_preset_layer():
    pytest.importorskip("efficientnet_lite_pytorch", reason="the vision extra (pip install 'ib-nlp[vision]') is not installed")
    from ib_nlp.vision.models import EFFICIENTNET_LITE0_LAYER, efficientnet_lite0

    model = efficientnet_lite0()
    with torch.no_grad():
        logits = model(torch.zeros(1, 3, 224, 224))
    assert logits.shape == (1, 1000)
    features = estimate_feature_statistics(model, EFFICIENTNET_LITE0_LAYER, [torch.zeros(2, 3, 224, 224)])
    assert features.metadata["shape"] == "80x14x14"


def test_guided_backprop_passes_only_positive_gradients_through_relu6():
    from ib_nlp.vision.methods import guided_gradient

    torch.manual_seed(0)
    first, second = nn.Conv2d(2, 5, 1), nn.Conv2d(5, 3, 1)
    model = nn.Sequential(first, nn.ReLU6(), second, nn.Flatten(), nn.LazyLinear(2)).eval()
    image = torch.randn(1, 2, 1, 1) * 4
    model(image)
    with torch.no_grad():
        hidden = first(image).flatten()
        active = ((hidden > 0) & (hidden < 6)).float()
        head = model[4].weight[1] @ second.weight.flatten(1)  # d logit / d relu6 output, per hidden unit
        expected = first.weight.flatten(1).T @ (head.clamp_min(0) * active)
    torch.testing.assert_close(guided_gradient(model, image, 1).flatten(), expected)
    plain = torch.autograd.grad(model(image.requires_grad_(True))[0, 1], image)[0].flatten()
    assert not torch.allclose(plain, expected)
    with pytest.raises(InvalidInputError, match="needs ReLU or ReLU6 modules"):
        guided_gradient(nn.Sequential(nn.Conv2d(2, 2, 1), nn.Flatten(), nn.Linear(2, 2)), image.detach(), 0)


def test_image_readout_starts_at_alpha_five_learns_and_round_trips(model, bright_left, tmp_path):
    from ib_nlp.vision.readout import ImageReadout, ReadoutConvolutions

    network = ReadoutConvolutions(6, 4)
    with torch.no_grad():
        assert torch.equal(network(torch.randn(1, 6, 3, 3)), torch.full((1, 4, 3, 3), 5.0))
    training = []
    for seed in range(4):
        batch = images(8, seed)
        batch[:4, 0] = 2.0 + 0.1 * batch[:4, 0]
        training.append(batch)
    readout = ImageReadout.create(model, "features.0", ["features.2"], training, beta=1.0)
    losses = readout.train(training, epochs=5, lr=1e-2)
    assert losses[-1] < losses[0] and all(p.grad is None for p in model.parameters())
    explanation = load_image_method("readout", model, readout=readout).explain(bright_left)
    assert explanation.method == "readout" and explanation.scores.shape == (16, 16) and explanation.feature_scores.shape == (16, 16)
    assert explanation.total == pytest.approx(float(explanation.feature_scores.sum()), rel=1e-4)
    readout.trained_on = ["a", "b"]
    loaded = ImageReadout.load(model, readout.save(tmp_path / "readout.safetensors"))
    torch.testing.assert_close(load_image_method("readout", model, readout=loaded).explain(bright_left).scores, explanation.scores)
    assert loaded.readout_layers == ["features.0", "features.2"] and loaded.trained_on == ["a", "b"]


def test_an_image_readout_trains_one_seed_per_epoch_continues_to_the_asked_epochs_and_refuses_other_settings(model, tmp_path):
    from ib_nlp.vision.models import LabelledImage
    from ib_nlp.vision.readout import ImageReadout, ImageReadoutTraining, train_image_readout

    sample = [LabelledImage(f"img{index}", image, 0) for index, image in enumerate(images(6, seed=3))]
    training = ImageReadoutTraining(layer="features.0", readout_layers=("features.2",), beta=1.0, epochs=3, batch_size=4, lr=1e-2)
    seen: list[tuple[int, float]] = []
    torch.manual_seed(0)  # the network's initial weights
    whole = train_image_readout(model, sample, tmp_path / "whole.safetensors", training, on_epoch_end=lambda epoch, loss: seen.append((epoch, loss)))
    assert [epoch for epoch, _ in seen] == [1, 2, 3] and whole.epochs == 3 and whole.trained_on == [f"img{index}" for index in range(6)]
    torch.manual_seed(0)
    fresh = ImageReadout.create(model, "features.0", ["features.2"], [images(6, seed=3)[:4], images(6, seed=3)[4:]], beta=1.0)
    expected = [fresh.train([images(6, seed=3)[:4], images(6, seed=3)[4:]], epochs=1, lr=1e-2, seed=epoch)[0] for epoch in range(3)]
    assert [loss for _, loss in seen] == pytest.approx(expected, rel=1e-5)

    from dataclasses import replace

    split = tmp_path / "split.safetensors"
    train_image_readout(model, sample, split, replace(training, epochs=1))
    continued = train_image_readout(model, sample, split, training)
    assert ImageReadout.load(model, split).epochs == continued.epochs == 3
    assert train_image_readout(model, sample, split, training).epochs == 3  # nothing left to do
    for other, named in ((replace(training, beta=2.0), "beta"), (replace(training, readout_layers=()), "readout_layers")):
        with pytest.raises(InvalidInputError, match=f"other {named}; choose another file"):
            train_image_readout(model, sample, split, other)
    with pytest.raises(InvalidInputError, match="other training images"):
        train_image_readout(model, sample[:3], split, training)
    with pytest.raises(InvalidInputError, match="no training images"):
        train_image_readout(model, [], tmp_path / "none.safetensors", training)
    assert not (tmp_path / "none.safetensors").exists()


def test_image_input_iba_stages_act_on_the_model_and_the_bits_follow_the_read_half(model, bright_left):
    from ib_nlp.vision.input_iba import VisionInputIBA

    fast = {"feature_steps": 5, "steps": 20, "samples": 4, "gan_samples": 8, "gan_epochs": 2, "gan_batch": 4, "critic_steps": 2, "critic_hidden": 8, "beta": 1.0, "feature_beta": 1.0}
    explainer = VisionInputIBA(model, "features.2", [images(16)], **fast)
    with torch.no_grad():
        _, deep = explainer.feature.run(bright_left[None])
        torch.testing.assert_close(explainer.deep_features(bright_left[None]), deep)
        mean = explainer.input_statistics.mean.view(3, 16, 16)
        assert not torch.allclose(explainer.deep_features(mean[None]), deep)
        assert not torch.allclose(model(mean[None]), model(bright_left[None]))
    explanation = explainer.explain(bright_left)
    bits = explanation.scores
    assert explanation.method == "input_iba" and bits.shape == (16, 16) and bool((bits >= 0).all())
    assert float(bits[:, :8].sum()) > 2 * float(bits[:, 8:].sum())
    assert set(explanation.parameters["stage_seconds"]) == {"feature", "gan", "input"} and explainer.last_prior_mask.shape == (3, 16, 16)
    registry = load_image_method("input_iba", model, layer="features.2", reference_images=[images(16)], **fast).explain(bright_left)
    torch.testing.assert_close(registry.scores, bits)


def test_in_place_activations_after_the_layer_change_neither_features_nor_guided_gradients():
    from ib_nlp.vision.methods import guided_gradient

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(inplace=True), nn.Flatten(), nn.LazyLinear(3)).eval()
    batch = images(4)
    model(batch)
    explainer = VisionIBA(model, "0", reference_images=[batch])
    with torch.no_grad():
        _, features = explainer.run(batch[:1])
        torch.testing.assert_close(features, model[0](batch[:1]))
    assert float(features.min()) < 0
    gradient = guided_gradient(model, batch[:1], 0)
    assert gradient.shape == batch[:1].shape and model[1].inplace and model[3].inplace


def test_heatmaps_are_drawn_side_by_side_as_png(bright_left):
    from ib_nlp.vision.plots import heatmaps_png

    maps = {"iba": torch.rand(16, 16), "random": torch.rand(16, 16)}
    png = heatmaps_png([("a", bright_left.clamp(0, 1), maps), ("b", bright_left.clamp(0, 1), {"iba": torch.rand(16, 16)})], boxes=[[(2, 2, 8, 8)], []])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


class DeadChannelCNN(nn.Module):
    """A 3x3 convolution and ReLU with two dead channels (weights 0, bias -1: always 0), then a
    small head; the bottleneck sits after the ReLU, as at the VGG and ResNet presets."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.features = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(4, 3)
        with torch.no_grad():
            self.features[0].weight[4:].zero_()
            self.features[0].bias[4:].fill_(-1.0)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images).mean(dim=(2, 3)))


def reference_cell_bits(model, layer, image, target, mean, std, active, beta, steps, lr, samples, seed, min_std=0.01, sigma=1.0):
    """The reference implementation's algorithm written out plainly (a 2-D kernel from its grid
    formula, reflection padding, the capacity of the last forward pass, dead units set to 0)."""
    size = int(round(2 * sigma)) * 2 + 1
    grid = torch.stack(torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="xy"), dim=-1)
    kernel = torch.exp(-((grid - (size - 1) / 2) ** 2).sum(-1) / (2 * sigma**2)) / (2 * math.pi * sigma**2)
    kernel = kernel / kernel.sum()
    std = torch.maximum(std, torch.full_like(std, min_std))
    alpha = torch.full(mean.shape, 5.0, requires_grad=True)
    optimizer = torch.optim.Adam([alpha], lr=lr)
    generator = torch.Generator().manual_seed(seed)
    channels = mean.shape[0]
    last = {}

    def bottleneck(_, __, output):
        lam = torch.sigmoid(alpha).expand(output.shape[0], -1, -1, -1)
        lam = F.conv2d(nn.ReflectionPad2d(size // 2)(lam), kernel.expand(channels, 1, size, size), groups=channels)
        x_norm = (output - mean) / std
        eps = last["noise"]
        z_norm = x_norm * lam + (1 - lam) * eps
        last["capacity"] = -0.5 * (1 + torch.log((1 - lam) ** 2) - (x_norm * lam) ** 2 - (1 - lam) ** 2) * active
        return (z_norm * std + mean) * active

    handle = dict(model.named_modules())[layer].register_forward_hook(bottleneck)
    try:
        for _ in range(steps):
            last["noise"] = torch.randn(samples, *mean.shape, generator=generator)
            loss = F.cross_entropy(model(image[None].expand(samples, -1, -1, -1)), torch.full((samples,), target))
            loss = loss + beta * last["capacity"].mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        handle.remove()
    return last["capacity"][0].detach().sum(dim=0) / math.log(2)


def test_dead_channels_are_found_and_with_the_reference_convention_the_map_is_the_reference_map():
    model = DeadChannelCNN().eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    references = images(64, seed=11)[:, :, :12, :12]
    statistics = estimate_feature_statistics(model, "features.1", [references[:32], references[32:]], unbiased=True)
    with torch.no_grad():
        features = model.features[:2](references)
    assert statistics.active.view(6, 12, 12)[4:].any().item() is False and bool(statistics.active.view(6, 12, 12)[:4].all())
    mean, std = features.mean(dim=0), features.std(dim=0, unbiased=True)
    active = ((features != 0).float().mean(dim=0) > 0.01) & (std > 0)
    torch.testing.assert_close(statistics.std.view(6, 12, 12), std, rtol=1e-5, atol=1e-6)
    image = images(1, seed=12)[0, :, :12, :12]
    options = {"beta": 10.0, "steps": 6, "lr": 1.0, "samples": 4, "seed": 2}
    ours = VisionIBA(model, "features.1", statistics=statistics, bits_from="last_pass", **options).explain(image, target=1)
    expected = reference_cell_bits(model, "features.1", image, 1, mean, std, active.float(), **options)
    torch.testing.assert_close(ours.feature_scores, expected, rtol=1e-4, atol=1e-5)
    final = VisionIBA(model, "features.1", statistics=statistics, **options).explain(image, target=1)
    assert final.parameters["bits_from"] == "final" and not torch.allclose(final.feature_scores, ours.feature_scores)


def test_a_rarely_active_unit_is_masked_instead_of_dominating_the_bits():
    """A unit that fires in under 1% of the reference images gets a tiny std; where it fires in the
    explained image its normalised value is huge. Masked, it adds no bits."""
    model = DeadChannelCNN().eval()
    with torch.no_grad():
        model.features[0].weight[5].zero_()
        model.features[0].weight[5, 0, 1, 1] = 1.0
        model.features[0].bias[5] = -3.5  # fires only where channel 0 exceeds 3.5
    references = images(256, seed=11)[:, :, :12, :12]
    statistics = estimate_feature_statistics(model, "features.1", [references])
    image = images(1, seed=12)[0, :, :12, :12]
    image[0, 2:5, 2:5] = 6.0
    masked = VisionIBA(model, "features.1", statistics=statistics, steps=4, samples=4).explain(image, target=1)
    unmasked_statistics = FeatureStatistics(statistics.mean, statistics.std.clamp_min(1e-4), statistics.count)
    unmasked = VisionIBA(model, "features.1", statistics=unmasked_statistics, steps=4, samples=4).explain(image, target=1)
    assert not bool(statistics.active.view(6, 12, 12)[5].any())
    assert unmasked.total > 3 * masked.total


def test_vision_iba_refuses_bad_options_and_an_unmoved_optimisation(model):
    with pytest.raises(InvalidInputError, match="bits_from must be one of 'final', 'last_pass'"):
        VisionIBA(model, "features.2", reference_images=[images(4)], bits_from="first")
    with pytest.raises(InvalidInputError, match="steps must be a whole number >= 1, got 2.5"):
        VisionIBA(model, "features.2", reference_images=[images(4)], steps=2.5)
    with pytest.raises(OptimisationError, match="did not move the bottleneck"):
        VisionIBA(model, "features.2", reference_images=[images(8)], beta=1e30, steps=2).explain(images(1, seed=4)[0])


def test_every_image_method_refuses_a_misspelt_option_with_its_options(model):
    for name, options in [("iba", {"layer": "features.0", "betta": 1}), ("input_iba", {"layer": "features.0", "reference_images": [], "gan_epoch": 0}), ("gradient", {"absolut": True})]:
        with pytest.raises(InvalidInputError, match=f"{name} has no option '{list(options)[-1]}' \\(did you mean"):
            load_image_method(name, model, **options)


def test_a_torchvision_model_without_torchvision_is_a_clear_load_error():
    from ib_nlp.errors import ModelLoadError

    try:
        import torchvision  # noqa: F401
    except Exception:
        with pytest.raises(ModelLoadError, match="torchvision cannot be imported here .*the torchvision models need it"):
            image_model("resnet50").load(weights=None)
    else:
        pytest.skip("torchvision imports here; the error path needs a machine where it cannot")
