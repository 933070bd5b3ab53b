"""Domain classifier: shapes, config errors, learning, checkpoints, exact resume, load-or-train cache."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import make_tiny_data

from genlib.data.datasets import DataConfig
from genlib import judge
from genlib.models import classifier_train
from genlib.models.classifier import ClassifierConfig, DomainClassifier, classify, predict
from genlib.models.classifier_train import ClassifierTrainConfig

SMALL = ClassifierConfig(channels=8, feature_dim=32)




def quick(**changes) -> ClassifierTrainConfig:
    base = dict(epochs=2, batch_size=32, lr=3e-3, device="cpu")
    return ClassifierTrainConfig(**{**base, **changes})


def test_shapes_of_logits_and_features() -> None:
    model = DomainClassifier(SMALL).eval()
    x = torch.rand(5, 1, 28, 28)
    assert model.logits(x).shape == (5, 49)
    assert model.features(x).shape == (5, 32)
    assert model(x.reshape(5, 784)).shape == (5, 49)  # flat images are accepted
    assert (model.features(x) >= 0).all()  # after ReLU
    logits, feats = classify(model, x, batch_size=2)  # batches of 2, 2, 1
    assert torch.allclose(logits, model.logits(x), atol=1e-6) and torch.allclose(feats, model.features(x), atol=1e-6)
    assert predict(model, x).dtype == torch.int64 and predict(model, x).shape == (5,)


def test_classify_empty_input() -> None:
    logits, feats = classify(DomainClassifier(SMALL), torch.empty(0, 1, 28, 28))
    assert logits.shape == (0, 49) and feats.shape == (0, 32)


@pytest.mark.parametrize("field,value", [("n_classes", 0), ("channels", 0), ("feature_dim", -1), ("dropout", 1.0)])
def test_bad_config_is_a_clear_error(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        ClassifierConfig(**{field: value})


def test_training_learns_tiny_data() -> None:
    data = make_tiny_data(n_classes=10, per_class=12)  # 80 training bars, 40 test bars
    config = ClassifierConfig(n_classes=10, channels=8, feature_dim=32)
    result = classifier_train.train(config, quick(epochs=6, batch_size=16), data=data, progress=False)
    history = result.history
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    assert history[-1]["val_accuracy"] > 0.9  # the bars' positions encode the class
    assert history[-1]["val_balanced_accuracy"] == pytest.approx(history[-1]["val_accuracy"])  # balanced test split


def test_checkpoint_round_trip_gives_identical_outputs(tiny_data, tmp_path) -> None:
    path = tmp_path / "clf.safetensors"
    result = classifier_train.train(SMALL, quick(epochs=1), data=tiny_data, out=path, slim=True, progress=False)
    loaded = classifier_train.load(path)
    x = tiny_data.test.images[:7]
    assert torch.equal(loaded.model.logits(x), result.modules["model"].eval().logits(x))
    assert loaded.model_config == SMALL and loaded.train_config == quick(epochs=1)
    assert set(loaded.test_metrics) == {"loss", "accuracy", "balanced_accuracy"}


def test_stop_and_resume_equals_uninterrupted(tiny_data, tmp_path) -> None:
    config = quick(epochs=2)
    full = classifier_train.train(SMALL, config, data=tiny_data, progress=False).modules["model"]
    part = tmp_path / "part.safetensors"
    classifier_train.train(SMALL, config, data=tiny_data, out=part, max_steps=5, progress=False)  # mid-epoch 1
    resumed = classifier_train.train(SMALL, config, data=tiny_data, resume=part, progress=False).modules["model"]
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_wrong_class_count_and_wrong_family(tiny_data, tmp_path) -> None:
    with pytest.raises(ValueError, match="n_classes=10"):
        classifier_train.train(ClassifierConfig(n_classes=10), quick(), data=tiny_data, progress=False)
    from genlib.models import cvae_train
    from genlib.models.cvae import CVAEConfig

    path = tmp_path / "cvae.safetensors"
    cvae_train.train(CVAEConfig(), cvae_train.CVAETrainConfig(epochs=1, device="cpu"), data=tiny_data, out=path, slim=True, progress=False)
    with pytest.raises(ValueError, match="not a 'classifier'"):
        classifier_train.load(path)


def test_load_or_train_trains_once_then_loads(tiny_data, tmp_path) -> None:
    config = quick(epochs=1, data=DataConfig(dataset="kana49"))
    first = judge.load_or_train_classifier("kana49", root=tmp_path, data=tiny_data, train_config=config)
    path = judge.classifier_path("kana49", tmp_path)
    assert path.is_file() and path.name == "classifier_kana49.safetensors"
    stamp = path.stat().st_mtime_ns
    second = judge.load_or_train_classifier("kana49", root=tmp_path)  # no data needed: it loads
    assert path.stat().st_mtime_ns == stamp
    x = tiny_data.test.images[:4]
    assert torch.equal(first.model.logits(x), second.model.logits(x))
    with pytest.raises(ValueError, match="'mnist'"):
        judge.load_or_train_classifier("mnist", root=tmp_path, train_config=config)


def test_load_or_train_detects_a_rebuilt_dataset(tiny_data, tmp_path) -> None:
    config = quick(epochs=1)
    judge.load_or_train_classifier("kana49", root=tmp_path, data=tiny_data, train_config=config)
    judge.load_or_train_classifier("kana49", root=tmp_path, data=tiny_data)  # same images: fine
    changed = dataclasses.replace(tiny_data, test=tiny_data.test.subset(torch.arange(len(tiny_data.test)).flip(0)))
    with pytest.raises(ValueError, match="rebuilt"):
        judge.load_or_train_classifier("kana49", root=tmp_path, data=changed)
