from __future__ import annotations

import torch
import torch.nn.functional as F

from t2v.nn import DynamicConv, Text2Filter, WordAttention


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


def test_word_attention_reads_the_matching_word_and_skips_padding():
    """2-D and 3-D maps: each position's added context is the attention-weighted word values; padded words get no
    weight; a query aligned with one word's key reads (almost) only that word."""
    torch.manual_seed(0)
    att = WordAttention(channels=4, word_dim=6, dim=4)
    words, mask = torch.randn(2, 5, 6), torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    for x in (torch.randn(2, 4, 3, 5), torch.randn(2, 4, 2, 3, 3)):
        w = att.weights(x, words, mask)
        n = x[0, 0].numel()
        assert w.shape == (2, n, 5) and torch.allclose(w.sum(-1), torch.ones(2, n))
        assert (w[0, :, 3:] == 0).all()
        y = att(x, words, mask)
        ref = x + torch.einsum("bnl,blc->bcn", w, att.value(words)).reshape(x.shape)
        torch.testing.assert_close(y, ref)
    with torch.no_grad():  # queries = the channels, keys = 100 x one-hot of the word's first 4 dims
        att.query.weight.copy_(torch.eye(4))
        att.key.weight.copy_(100 * torch.eye(4, 6))
    words = torch.cat([torch.eye(4, 6), torch.zeros(1, 6)])[None]
    x = torch.zeros(1, 4, 1, 2)
    x[0, 2, 0, 0] = x[0, 0, 0, 1] = 1.0  # position 0 asks for word 2, position 1 for word 0
    w = att.weights(x, words, torch.ones(1, 5, dtype=torch.bool))
    assert w[0, 0].argmax() == 2 and w[0, 1].argmax() == 0 and w[0, :, [2, 0]].diagonal().min() > 0.99
    y = att(x.requires_grad_(), words.requires_grad_(), torch.ones(1, 5, dtype=torch.bool))
    y.square().sum().backward()
    assert x.grad is not None and words.grad is not None
