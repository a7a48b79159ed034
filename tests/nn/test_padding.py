"""Padding: TensorFlow's SAME rule for TF-trained weights, and the cropped-taps conv."""

import pytest
import torch
from torch import nn

import effnet
from effnet.nn import Conv2dSame
from effnet.nn.padding import Conv2dCroppedTaps, make_conv, same_padding


def test_same_padding_is_tensorflows_asymmetric_rule():
    assert same_padding(224, 3, 2) == (0, 1)  # the extra pixel goes bottom/right
    assert same_padding(225, 3, 2) == (1, 1)
    assert same_padding(224, 5, 2) == (1, 2)
    model = effnet.create_model("efficientnet_b0", padding="same")
    assert isinstance(model.stem.conv, Conv2dSame)
    symmetric = effnet.create_model("efficientnet_b0")
    symmetric.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 224, 224)
    model.eval(), symmetric.eval()
    with torch.no_grad():
        same, sym = model.stem(x), symmetric.stem(x)
        assert same.shape == sym.shape == (1, 32, 112, 112)
        assert (same - sym).abs().max() > 0.1
        # SAME pads nothing on top/left for an even input: its first row/column sees x[0:3].
        ref = torch.nn.functional.conv2d(x[:, :, :3, :3], model.stem.conv.weight)
        assert torch.allclose(model.stem.conv(x)[:, :, :1, :1], ref, atol=1e-5)
    with pytest.raises(ValueError, match="unknown padding"):
        effnet.create_model("efficientnet_b0", padding="valid")


@pytest.mark.parametrize("size", [1, 2, 3, 7])
@pytest.mark.parametrize("kernel", [3, 5])
def test_cropped_taps_conv_equals_the_full_kernel_in_value_and_gradient(size, kernel):
    # Inputs smaller than the kernel's reach (B0's last stages when training at low resolution)
    # take the cropped path; values and both gradients must be those of the full kernel.
    conv = make_conv(8, 8, kernel, stride=1, groups=8)
    assert isinstance(conv, Conv2dCroppedTaps) and conv.weight.shape[-1] == kernel
    x = torch.randn(2, 8, size, size, requires_grad=True)
    out = conv(x)
    grad_x, grad_w = torch.autograd.grad(out.square().sum(), (x, conv.weight))
    x_ref = x.detach().clone().requires_grad_(True)
    w_ref = conv.weight.detach().clone().requires_grad_(True)
    ref = nn.functional.conv2d(x_ref, w_ref, None, 1, kernel // 2, 1, 8)
    ref_x, ref_w = torch.autograd.grad(ref.square().sum(), (x_ref, w_ref))
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(grad_x, ref_x, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grad_w, ref_w, atol=1e-5, rtol=1e-5)
    reach = min(kernel // 2, size - 1)
    outer = torch.ones(kernel, kernel, dtype=torch.bool)
    outer[
        kernel // 2 - reach : kernel // 2 + reach + 1, kernel // 2 - reach : kernel // 2 + reach + 1
    ] = False
    assert outer.any() == (size <= kernel // 2)  # the crop is taken exactly when it is exact
    assert grad_w[:, :, outer].abs().sum() == 0  # taps that only see padding learn nothing
    with torch.no_grad():  # evaluation (and export) take the plain path, with the same values
        torch.testing.assert_close(conv.eval()(x), ref, atol=1e-6, rtol=1e-5)
