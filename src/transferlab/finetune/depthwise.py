"""bf16 training on CPU: depthwise convolutions run forward in bf16 but backward in fp32.

oneDNN's bf16 backward of a depthwise convolution is several times slower than its fp32 one on CPU
(the stride-2 input gradient and the 5x5 weight gradients above all; docs/finetune.md), while the
rest of the network gains from bf16.  Inside ``DepthwiseFp32Backward`` (entered with bf16 autocast on a
CPU) each ``conv2d`` with one input channel per group that needs a gradient goes through
``_DepthwiseConv``: the same bf16 forward as autocast, and a backward on fp32 copies of the saved
bf16 input and weight, so the gradients are as exact as autocast's, only computed faster.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode


class _DepthwiseConv(torch.autograd.Function):
    """conv2d in bf16 whose backward runs in fp32 (returns gradients in the inputs' dtypes)."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        with torch.autocast("cpu", enabled=False):
            xb, wb = x.to(torch.bfloat16), weight.to(torch.bfloat16)
            out = F.conv2d(xb, wb, None if bias is None else bias.to(torch.bfloat16), stride, padding, dilation,
                           groups)
        ctx.save_for_backward(xb, wb)
        ctx.conf = (stride, padding, dilation, groups, x.dtype, weight.dtype, bias is not None)
        return out

    @staticmethod
    def backward(ctx, grad):
        xb, wb = ctx.saved_tensors
        stride, padding, dilation, groups, x_dtype, w_dtype, has_bias = ctx.conf
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], has_bias and ctx.needs_input_grad[2]]
        memory = torch.channels_last if xb.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        gx, gw, gb = torch.ops.aten.convolution_backward(
            grad.float().contiguous(memory_format=memory), xb.float(), wb.float(), [wb.shape[0]] if has_bias else None,
            _pair(stride), _pair(padding), _pair(dilation), False, [0, 0], groups, mask)
        return (None if gx is None else gx.to(x_dtype), None if gw is None else gw.to(w_dtype),
                None if gb is None else gb.to(w_dtype), None, None, None, None)


def _pair(value) -> list[int]:
    return list(value) if isinstance(value, (tuple, list)) else [value, value]


def _arg(args, kwargs, i, name, default):
    return args[i] if len(args) > i else kwargs.get(name, default)


class DepthwiseFp32Backward(TorchFunctionMode):
    """Routes depthwise ``conv2d`` calls that need a gradient through ``_DepthwiseConv``; everything else
    (and every call without grad: evaluation) is left to autocast as it is."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.conv2d:  # torch.conv2d is the same function
            x, weight = _arg(args, kwargs, 0, "input", None), _arg(args, kwargs, 1, "weight", None)
            groups = _arg(args, kwargs, 6, "groups", 1)
            padding = _arg(args, kwargs, 4, "padding", 0)
            if (groups > 1 and weight is not None and weight.shape[1] == 1 and x.device.type == "cpu"
                    and not isinstance(padding, str) and torch.is_grad_enabled()
                    and (x.requires_grad or weight.requires_grad)):
                return _DepthwiseConv.apply(x, weight, _arg(args, kwargs, 2, "bias", None),
                                            _arg(args, kwargs, 3, "stride", 1), padding,
                                            _arg(args, kwargs, 5, "dilation", 1), groups)
        return func(*args, **kwargs)
