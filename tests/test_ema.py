"""EMA of weights: the averaging rule, the warm start (train.ema_start), BatchNorm statistics for averaged weights."""
from __future__ import annotations

import torch
from safetensors.torch import load_file
from test_trainer import toy_cfg
from torch import nn

from t2v.training import Trainer
from t2v.training.ema import EMA, recompute_batchnorm
from t2v.training.trainer import list_checkpoints


def test_update_lerps_by_one_minus_decay_and_zero_copies():
    live = nn.Linear(3, 2)
    ema = EMA(live, 0.9)
    start = ema.model.weight.clone()
    with torch.no_grad():
        live.weight.add_(1.0)
    ema.update(live)
    torch.testing.assert_close(ema.model.weight, start + 0.1)
    ema.update(live, decay=0.0)
    torch.testing.assert_close(ema.model.weight, live.weight)


def _g_and_ema(run):
    ckpt = list_checkpoints(run)[-1]  # model.safetensors is the first net of the toy recipe, G
    return load_file(str(ckpt / "model.safetensors")), load_file(str(ckpt / "ema_G.safetensors"))


def test_ema_start_copies_the_weights_until_then(tmp_path):
    Trainer(toy_cfg(tmp_path / "a", 4, ema_start=4)).fit()  # the updates of steps 1-4 are all copies
    g, ema = _g_and_ema(tmp_path / "a")
    assert g.keys() == ema.keys() and all(torch.equal(g[k], ema[k]) for k in g)
    Trainer(toy_cfg(tmp_path / "b", 4, ema_start=2)).fit()  # copies up to step 2, then averages
    g, ema = _g_and_ema(tmp_path / "b")
    assert not all(torch.equal(g[k], ema[k]) for k in g)
    g_a, ema_a = _g_and_ema(tmp_path / "a")
    assert all(torch.equal(g[k], g_a[k]) for k in g)  # the EMA does not change training


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.drop = nn.Conv2d(2, 4, 1), nn.BatchNorm2d(4), nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.bn(self.conv(x)))


def test_recompute_batchnorm_gives_the_mean_statistics_of_the_inputs():
    torch.manual_seed(0)
    net = _Net().eval()
    batches = [torch.randn(8, 2, 3, 3) * 2 + 1 for _ in range(5)]
    it = iter(batches)
    assert recompute_batchnorm(net, lambda: net(next(it)), 5)
    with torch.no_grad():
        feats = [net.conv(x) for x in batches]
    mean = torch.stack([f.mean((0, 2, 3)) for f in feats]).mean(0)
    var = torch.stack([f.var((0, 2, 3), unbiased=True) for f in feats]).mean(0)
    torch.testing.assert_close(net.bn.running_mean, mean)
    torch.testing.assert_close(net.bn.running_var, var)
    assert int(net.bn.num_batches_tracked) == 5
    assert net.bn.momentum == 0.1 and not net.bn.training and not net.drop.training  # restored / untouched


def test_recompute_batchnorm_without_batchnorm_does_nothing():
    net = nn.Linear(2, 2)
    calls = []
    assert not recompute_batchnorm(net, lambda: calls.append(1), 3)
    assert calls == []
