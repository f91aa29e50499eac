"""Reference prefix linear attention (JRT-RNN's mixer; paper eqs. 3-4), plain torch.

Glossary: B batch, T time (decoder / whole sequence), Te encoder length, H heads, F feature dim,
E = 1 + F + F^2, D value head dim, M_b = prefix_len[b] (encoder tokens example b may read).

    y_i = phi(q_i) (S_enc + S_dec,i) / (phi(q_i) . (z_enc + z_dec,i) + eps)
    S_enc = sum_{j < M_b} phi(ke_j) ve_j^T          (non-causal: the same at every i)
    S_dec,i = sum_{j <= i} phi(k_j) v_j^T           (causal over the whole sequence)

and likewise z with phi(k) alone. Returned decode state after prefill: S_enc + S_dec,T,
z_enc + z_dec,T — the size of a Based state (H * E * (Dh + 1) values per example).

k_enc / v_enc are separate projections of the prompt; positions j >= prefix_len[b] are masked.
"""

from __future__ import annotations

import torch

from synthetic.kernels.based.kernel_matrix import kernel_attention
from synthetic.kernels.based.reference import based_chunked, based_quadratic, quadratic_chunk
from synthetic.kernels.feature_map import taylor_feature_map
from synthetic.kernels.state import LinearAttentionState


def check_prefix_inputs(
    q: torch.Tensor, k_enc: torch.Tensor, v_enc: torch.Tensor, prefix_len: torch.Tensor
) -> None:
    """Validate encoder inputs against q [B, T, H, F]: k_enc [B, Te, H, F], v_enc [B, Te, H, Dh],
    prefix_len int [B] with 0 <= prefix_len <= Te.

    The value range of a prefix_len on the GPU is checked on the GPU (``torch._assert_async``,
    PyTorch's device-side assertion, reported at the next synchronisation) instead of reading it
    back: a read-back stalls the launch queue on every call (at T = 32k, B = 16 on an H200 the call
    took about 0.3 ms longer than its kernels' autotuned times added up). Shapes and dtypes, and
    the values of a prefix_len on the CPU, are checked here at once."""
    b, _, h, f = q.shape
    if k_enc.dim() != 4 or k_enc.shape[0] != b or k_enc.shape[2:] != (h, f):
        raise ValueError(f"k_enc must be [B, Te, H, F] = [{b}, Te, {h}, {f}]; got {tuple(k_enc.shape)}")
    if v_enc.dim() != 4 or v_enc.shape[:3] != k_enc.shape[:3]:
        raise ValueError(f"v_enc must be [B, Te, H, Dh] matching k_enc; got {tuple(v_enc.shape)}")
    if prefix_len.dtype not in (torch.int32, torch.int64) or prefix_len.shape != (b,):
        raise ValueError(
            f"prefix_len must be an integer tensor of shape [{b}]; "
            f"got {prefix_len.dtype} {tuple(prefix_len.shape)}"
        )
    te = k_enc.shape[1]
    if prefix_len.is_cuda:
        torch._assert_async(
            ((prefix_len >= 0) & (prefix_len <= te)).all(), f"prefix_len values must lie in [0, Te={te}]"
        )
    elif prefix_len.numel() and (int(prefix_len.min()) < 0 or int(prefix_len.max()) > te):
        raise ValueError(
            f"prefix_len values must lie in [0, Te={te}]; "
            f"got min {int(prefix_len.min())}, max {int(prefix_len.max())}"
        )


def encoder_state(k_enc: torch.Tensor, v_enc: torch.Tensor, prefix_len: torch.Tensor) -> LinearAttentionState:
    """Non-causal encoder state over the first prefix_len[b] tokens: (kv [B,H,E,Dh], z [B,H,E])."""
    te = k_enc.shape[1]
    keep = (torch.arange(te, device=k_enc.device)[None, :] < prefix_len[:, None]).to(k_enc.dtype)  # [B, Te]
    phi = taylor_feature_map(k_enc) * keep[:, :, None, None]
    kv = torch.einsum("bthe,bthd->bhed", phi, v_enc)
    z = phi.sum(dim=1)
    return LinearAttentionState(kv, z)


def prefix_kernel_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    k_enc: torch.Tensor,
    v_enc: torch.Tensor,
    prefix_len: torch.Tensor,
    *,
    query_pos: torch.Tensor | None = None,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Prefix linear attention read through one kernel matrix over [own keys, encoder keys]: the
    own keys k, v [B, T, H, *] causally (up to each query's position), the encoder keys k_enc,
    v_enc [B, Te, H, *] up to prefix_len[b] by every query. q [B, Tq, H, F] holds the queries at
    positions 0..T-1 (Tq = T) or at ``query_pos`` (int64 [B, Tq]). Returns y [B, Tq, H, Dh]
    (:func:`synthetic.kernels.based.kernel_matrix.kernel_attention`); no state."""
    t, te = k.shape[1], k_enc.shape[1]
    enc_keys = torch.arange(te, device=q.device)[None, :] < prefix_len[:, None]  # [B, Te]
    keys = torch.cat([enc_keys.new_ones(enc_keys.shape[0], t), enc_keys], dim=1)  # [B, T + Te]
    k_all, v_all = torch.cat([k, k_enc], dim=1), torch.cat([v, v_enc], dim=1)
    return kernel_attention(q, k_all, v_all, causal_cols=t, keys=keys, query_pos=query_pos, eps=eps)


def prefix_linear_attention_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    k_enc: torch.Tensor,
    v_enc: torch.Tensor,
    prefix_len: torch.Tensor,
    *,
    eps: float = 1e-6,
    chunked: bool = True,
    need_state: bool = True,
) -> tuple[torch.Tensor, LinearAttentionState | None]:
    """q, k [B, T, H, F]; v [B, T, H, Dh]; k_enc [B, Te, H, F]; v_enc [B, Te, H, Dh]; prefix_len [B].

    Returns (y [B, T, H, Dh], decode state after prefill (kv [B,H,E,Dh], z [B,H,E])). The encoder
    state enters as the initial state of the causal decoder pass, which is exactly eq. 3.
    ``chunked=False`` uses the O(T^2) definition form for the decoder term; ``need_state=False``
    returns None for the state (chunked form only).
    """
    check_prefix_inputs(q, k_enc, v_enc, prefix_len)
    t, te = q.shape[1], k_enc.shape[1]
    if chunked and not need_state and max(t, te) <= quadratic_chunk(q.shape[-1], v.shape[-1]):
        # training on short sequences: both terms as one kernel matrix, no phi(k) and no state
        return prefix_kernel_attention(q, k, v, k_enc, v_enc, prefix_len, eps=eps), None
    enc = encoder_state(k_enc, v_enc, prefix_len)
    if chunked:
        return based_chunked(q, k, v, causal=True, eps=eps, initial_state=enc, need_state=need_state)
    return based_quadratic(q, k, v, causal=True, eps=eps, initial_state=enc)
