"""Weights files: what is saved loads back to the same network, on whichever device is present."""

from __future__ import annotations

import pickle

import pytest
import torch

from detector.checkpoint import WeightsMeta, read_weights, save_weights
from detector.errors import ModelError
from detector.loader import load_model
from detector.models import ModelConfig, build_model

CONFIG = ModelConfig(backbone="mobilenet_v3_small", num_classes=3, neck_width=32, head_depth=1)
NAMES = ("cat", "dog", "person")


@pytest.fixture(scope="module")
def trained_like():
    """A network whose BatchNorm statistics are not the defaults, so buffers must round-trip too."""
    torch.manual_seed(0)
    network = build_model(CONFIG)
    network.train()
    with torch.no_grad():
        for _ in range(2):
            network(torch.rand(2, 3, 64, 64))
    return network.eval()


@pytest.fixture(scope="module")
def probe():
    return torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(1))


def outputs(network, x):
    with torch.inference_mode():
        return [o.clone() for o in network.eval()(x)]


def assert_same_outputs(a, b, atol=1e-5):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert torch.allclose(x, y, atol=atol, rtol=atol), float((x - y).abs().max())


def test_safetensors_round_trip(tmp_path, trained_like, probe):
    meta = WeightsMeta(CONFIG, NAMES, 256, {"provenance": "unit test"})
    path = save_weights(tmp_path / "w.safetensors", trained_like, meta)
    state, read_meta = read_weights(path)
    assert read_meta == meta
    assert set(state) == set(trained_like.state_dict())
    loaded = load_model(path)
    assert loaded.class_names == NAMES and loaded.spec.input_size == 256
    assert_same_outputs(outputs(trained_like, probe), outputs(loaded.network, probe))


def test_weights_stopped_mid_write_leave_the_earlier_file_whole(tmp_path, trained_like, monkeypatch):
    """Training rewrites best.safetensors each time val improves. A run stopped while it was being written
    (Ctrl-C, a GPU lease running out) left it truncated: the best weights of hours of training, unreadable."""
    import detector.checkpoint as checkpoint

    meta = WeightsMeta(CONFIG, NAMES, 256, {"epoch": 1})
    best = save_weights(tmp_path / "best.safetensors", trained_like, meta)
    before = best.read_bytes()

    def stopped_half_way(path, data):
        with open(path, "wb") as written:
            written.write(data[: len(data) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.Path, "write_bytes", stopped_half_way)
    with pytest.raises(KeyboardInterrupt):
        save_weights(best, trained_like, WeightsMeta(CONFIG, NAMES, 256, {"epoch": 2}))
    assert best.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["best.safetensors"]
    state, read_meta = read_weights(best)
    assert read_meta.extra == {"epoch": 1}


def test_half_weights_load_as_fp32_and_stay_close(tmp_path, trained_like, probe):
    full = save_weights(tmp_path / "full.safetensors", trained_like, WeightsMeta(CONFIG, NAMES, 256, {}))
    half = save_weights(tmp_path / "half.safetensors", trained_like, WeightsMeta(CONFIG, NAMES, 256, {}), half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    state, _ = read_weights(half)
    assert any(v.dtype == torch.float16 for v in state.values())
    loaded = load_model(half)
    assert all(p.dtype == torch.float32 for p in loaded.network.parameters())
    reference = outputs(trained_like, probe)
    got = outputs(loaded.network, probe)
    for a, b in zip(reference, got):
        assert float((a - b).abs().max()) < 0.05 * float(a.abs().max())


def test_half_weights_keep_a_value_past_float16s_range_and_non_finite_weights_are_refused(tmp_path, probe):
    """A BatchNorm variance of 7e4 became infinity in a half file, and loaded without a word: that channel's
    output went to 0. Weights holding NaN (a training that diverged) loaded too, and drew nothing."""
    torch.manual_seed(0)
    network = build_model(CONFIG).eval()
    bn = next(m for m in network.modules() if isinstance(m, torch.nn.BatchNorm2d))
    with torch.no_grad():
        bn.running_var[0] = 7e4
    path = save_weights(tmp_path / "half.safetensors", network, WeightsMeta(CONFIG, NAMES, 256, {}), half=True)
    loaded = load_model(path).network
    assert next(m for m in loaded.modules() if isinstance(m, torch.nn.BatchNorm2d)).running_var[0] == 7e4
    assert_same_outputs(outputs(network, probe), outputs(loaded, probe), atol=5e-3)
    with torch.no_grad():
        bn.running_var[0] = float("nan")
    diverged = save_weights(tmp_path / "diverged.safetensors", network, WeightsMeta(CONFIG, NAMES, 256, {}))
    with pytest.raises(ModelError, match=r"diverged\.safetensors holds numbers that are not finite \(NaN or "
                                         r"infinity\) in .*running_var: the training that wrote it diverged"):
        load_model(diverged)


def test_pt_checkpoint_loads_with_weights_only(tmp_path, trained_like, probe):
    meta = WeightsMeta(CONFIG, NAMES, 320, {})
    path = tmp_path / "last.pt"
    torch.save({"model": trained_like.state_dict(), "ema": trained_like.state_dict(), "meta": meta.to_json(),
                "epoch": 3}, path)
    loaded = load_model(path)
    assert loaded.class_names == NAMES
    assert_same_outputs(outputs(trained_like, probe), outputs(loaded.network, probe))


class Payload:
    """Stands for code hidden in a pickle: loading it must be refused, not executed."""

    def __reduce__(self):
        return (print, ("this must never run",))


def test_pt_with_pickled_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        torch.save({"model": {"w": torch.zeros(1)}, "x": Payload()}, f, pickle_module=pickle)
    with pytest.raises(ModelError, match="refused"):
        read_weights(path)
    assert "this must never run" not in capsys.readouterr().out


def test_truncated_and_foreign_files_give_model_errors(tmp_path, trained_like):
    path = save_weights(tmp_path / "w.safetensors", trained_like, WeightsMeta(CONFIG, NAMES, 256, {}))
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelError):
        load_model(cut)
    other = save_weights(tmp_path / "other.safetensors", build_model(ModelConfig(num_classes=3, neck_width=48)),
                         WeightsMeta(CONFIG, NAMES, 256, {}))  # metadata lies about the architecture
    with pytest.raises(ModelError, match="does not match"):
        load_model(other)


def test_checkpoint_saved_on_a_gpu_loads_on_a_cpu_only_machine(tmp_path, trained_like, probe, monkeypatch):
    """Simulated: the file records CUDA storage locations, as ``torch.save`` does for a model on a GPU."""
    path = tmp_path / "gpu.pt"
    state = {k: v.clone() for k, v in trained_like.state_dict().items()}
    with monkeypatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        torch.save({"model": state, "meta": WeightsMeta(CONFIG, NAMES, 256, {}).to_json()}, path)
    if not torch.cuda.is_available():  # the simulation is real: a plain load would fail here
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)
    loaded_state, _ = read_weights(path)
    assert all(t.device.type == "cpu" for t in loaded_state.values())
    assert_same_outputs(outputs(trained_like, probe), outputs(load_model(path).network, probe))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_real_gpu_round_trip(tmp_path, trained_like, probe):
    import copy

    from detector import Predictor

    on_gpu = copy.deepcopy(trained_like).cuda()
    meta = WeightsMeta(CONFIG, NAMES, 256, {})
    pt_path = tmp_path / "gpu.pt"
    torch.save({"model": on_gpu.state_dict(), "meta": meta.to_json()}, pt_path)
    st_path = save_weights(tmp_path / "gpu.safetensors", on_gpu, meta)
    reference = outputs(trained_like, probe)
    for path in (pt_path, st_path):
        loaded = load_model(path)
        assert next(loaded.network.parameters()).device.type == "cpu"
        assert_same_outputs(reference, outputs(loaded.network, probe))
    cpu_saved = save_weights(tmp_path / "cpu.safetensors", trained_like, meta)
    predictor = Predictor(load_model(cpu_saved), device="cuda", half=False)
    assert predictor.device_type == "cuda"
    gpu_boxes, gpu_scores = predictor.engine.forward(probe.cuda())
    from detector.export import DecodedNetwork

    with torch.inference_mode():
        cpu_boxes, cpu_scores = DecodedNetwork(trained_like)(probe)
    assert float((gpu_scores.cpu() - cpu_scores).abs().max()) < 1e-3
    assert float((gpu_boxes.cpu() - cpu_boxes).abs().max()) < 1e-1


def test_weights_meta_rejects_foreign_json():
    with pytest.raises(ModelError):
        WeightsMeta.from_json('{"format": "something-else"}', "x.safetensors")
    with pytest.raises(ModelError):
        WeightsMeta.from_json("not json", "x.safetensors")
