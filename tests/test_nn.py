from __future__ import annotations

import torch
import torch.nn.functional as F

from t2v.nn import DynamicConv, Text2Filter


def test_dynamic_conv_equals_per_sample_conv_2d_and_3d():
    torch.manual_seed(0)
    for shape, kernel, conv in [((3, 4, 9, 7), (3, 3), F.conv2d), ((2, 4, 5, 6, 6), (3, 3, 3), F.conv3d)]:
        x = torch.randn(shape)
        w = torch.randn(shape[0], 5, 4, *kernel)
        b = torch.randn(shape[0], 5)
        out = DynamicConv()(x, w, b)
        for i in range(shape[0]):
            ref = conv(x[i : i + 1], w[i], b[i], padding=[k // 2 for k in kernel])
            torch.testing.assert_close(out[i : i + 1], ref, rtol=1e-5, atol=1e-5)


def test_text2filter_kernels_depend_on_text_and_get_gradients():
    torch.manual_seed(0)
    f = Text2Filter(text_dim=8, cin=4, cout=6, kernel=(3, 3))
    x = torch.randn(1, 4, 8, 8).expand(2, -1, -1, -1)
    s = torch.randn(2, 8, requires_grad=True)
    y = f(x, s)
    assert y.shape == (2, 6, 8, 8)
    assert not torch.allclose(y[0], y[1])  # same features, different sentences -> different outputs
    y.square().mean().backward()
    assert s.grad is not None and f.to_weight.weight.grad.abs().sum() > 0
