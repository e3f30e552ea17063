"""bf16 training on CPU: depthwise convolutions' backward runs in fp32 (finetune.depthwise), same gradients."""
import torch
from torch import nn

from transferlab.finetune import schedule


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8), nn.ReLU6(),
                         nn.Conv2d(8, 16, 1), nn.Conv2d(16, 16, 5, padding=2, groups=16, bias=False),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 3)).to(memory_format=torch.channels_last)


def _grads(ctx):
    net = _net()
    x = torch.randn(4, 8, 20, 20, generator=torch.Generator().manual_seed(1)).contiguous(
        memory_format=torch.channels_last).requires_grad_()
    with ctx():
        out = net(x)
    out.float().square().sum().backward()
    return out, [x.grad] + [p.grad for p in net.parameters()]


def _rel(a, b):
    return float((a.float() - b).abs().max() / b.abs().max())


def test_depthwise_backward_in_fp32_matches_autocast_gradients():
    cpu, bf16 = torch.device("cpu"), torch.bfloat16
    _, ref = _grads(lambda: schedule.autocast(cpu, None))
    _, plain = _grads(lambda: torch.autocast("cpu", dtype=bf16))
    out, routed = _grads(lambda: schedule.autocast(cpu, bf16))
    assert out.dtype == bf16 and all(g is not None for g in routed)
    for r, p, g in zip(ref, plain, routed):
        assert g.dtype == r.dtype and g.shape == r.shape
        assert _rel(g, r) <= max(2 * _rel(p, r), 1e-2)  # as close to fp32 as autocast's own, or closer


def test_only_depthwise_convolutions_that_need_a_gradient_are_routed():
    from transferlab.finetune.depthwise import DepthwiseFp32Backward

    x = torch.randn(2, 8, 10, 10)
    dw, pw = nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Conv2d(8, 4, 1)
    with torch.autocast("cpu", dtype=torch.bfloat16), DepthwiseFp32Backward():
        assert "DepthwiseConv" in type(dw(x).grad_fn).__name__
        assert "DepthwiseConv" not in type(pw(x).grad_fn).__name__
        with torch.no_grad():
            assert torch.equal(dw(x), torch.autocast("cpu", dtype=torch.bfloat16)(dw)(x))
