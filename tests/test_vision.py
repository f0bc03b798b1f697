"""Vision IBA on small CNNs built here: smoothing, statistics, bits maps, and the checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch import nn

from ib_nlp.errors import InvalidInputError, LayerNotReadError, StatisticsError
from vision import VisionIBA, estimate_feature_statistics, gaussian_kernel, smooth
from vision.iba import torchvision_model


class LeftHalfCNN(nn.Module):
    """Two 1x1 convolutions that pass the colour channels through; the head reads only the mean
    of channel 0 over the left half of the second feature map: a bright left half is class 1."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(), nn.Conv2d(4, 4, 1), nn.ReLU())
        self.unused = nn.Conv2d(3, 4, 1)
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


def test_smoothing_matches_scipy_and_keeps_constant_masks():
    kernel = gaussian_kernel(1.0)
    assert kernel.shape == (7, 7) and float(kernel.sum()) == pytest.approx(1.0)
    mask = torch.rand(1, 2, 9, 11, generator=torch.Generator().manual_seed(0))
    expected = np.stack([ndimage.gaussian_filter(mask[0, c].numpy(), sigma=1.0, mode="nearest", truncate=3.0) for c in range(2)])
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
    cells = explanation.cell_bits
    assert cells.shape == (16, 16) and explanation.pixel_bits.shape == (16, 16) and bool((cells >= 0).all())
    assert float(cells[:, :8].sum()) > 5 * float(cells[:, 8:].sum())
    assert float(explanation.pixel_bits.sum()) == pytest.approx(explanation.total_bits, rel=1e-4)
    again = explainer.explain(image)
    torch.testing.assert_close(again.cell_bits, cells)
    assert explanation.target == int(torch.tensor(explanation.probabilities).argmax()) and explanation.layer == "features.2"


def test_a_layer_the_classifier_does_not_read_is_an_error(model):
    with pytest.raises(LayerNotReadError, match="does not read this layer"):
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
    with pytest.raises(InvalidInputError, match="no preset for 'alexnet'"):
        torchvision_model("alexnet")


def test_torchvision_presets_name_the_papers_layers():
    try:
        import torchvision  # noqa: F401
    except Exception as error:  # its compiled ops need CUDA libraries next to a CPU-only torch
        pytest.skip(f"torchvision cannot be imported here ({type(error).__name__}); the presets are tested where it can")
    vgg, layer = torchvision_model("vgg16")
    module = dict(vgg.named_modules())[layer]
    assert isinstance(module, nn.Conv2d) and (module.in_channels, module.out_channels) == (256, 512)
    resnet, layer = torchvision_model("resnet50")
    assert layer == "layer3" and layer in dict(resnet.named_modules())
