"""Reference Based linear attention (plain torch; obviously correct, any dtype incl. fp64).

Symbols: docs/synthetic/glossary.md (B batch, T time, H heads, F feature dim, E = 1 + F + F^2,
Dh value head dim).

Causal:     y_i = phi(q_i) S_i / (phi(q_i) . z_i + eps),
            S_i = S_0 + sum_{j<=i} phi(k_j) v_j^T   [E, Dh],   z_i = z_0 + sum_{j<=i} phi(k_j)   [E]
Non-causal: the same with the sums over all j (every position sees the whole sequence).

State: :class:`~synthetic.kernels.state.LinearAttentionState` (kv [B, H, E, Dh], z [B, H, E]) —
H * E * (Dh + 1) values per example.

Three forms, which the tests check against each other:
- :func:`based_quadratic`: the T x T kernel matrix (O(T^2) memory; the definition);
- :func:`based_chunked`: intra-chunk quadratic part + inter-chunk state (the CPU training path);
- :func:`based_step`: one recurrent decoding step.

Chunk length (:func:`quadratic_chunk`): per token and head, the kernel-matrix part of a chunk of
length C costs about C (F + Dh) multiply-adds and the state part about 2 E Dh (add the token to the
state, read it), so chunks of C = 2 E Dh / (F + Dh) cost no more than the state they replace; the
short sequences of the synthetic tasks (T of 20 to a few hundred) are then one chunk and never
build phi(k) or a state in training. Within a chunk the kernel matrix is computed by
:func:`synthetic.kernels.based.kernel_matrix.kernel_matrix_read` (a hand-written backward with
fewer passes over the T x T matrices, checked against autograd of :func:`based_quadratic`).
"""

from __future__ import annotations

import torch

from synthetic.kernels.based.kernel_matrix import kernel_attention, kernel_matrix_read
from synthetic.kernels.feature_map import expanded_dim, taylor_feature_map, taylor_kernel
from synthetic.kernels.state import LinearAttentionState


def _check(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    if q.dim() != 4 or k.shape != q.shape:
        raise ValueError(f"q and k must both be [B, T, H, F]; got q {tuple(q.shape)}, k {tuple(k.shape)}")
    if v.dim() != 4 or v.shape[:3] != q.shape[:3]:
        raise ValueError(
            f"v must be [B, T, H, Dh] matching q's [B, T, H]; got v {tuple(v.shape)}, q {tuple(q.shape)}"
        )


def zero_state(q: torch.Tensor, v: torch.Tensor) -> LinearAttentionState:
    """All-zero state for inputs like q [B, T, H, F], v [B, T, H, Dh], in fp32 or wider."""
    b, _, h, f = q.shape
    e = expanded_dim(f)
    dtype = torch.promote_types(q.dtype, torch.float32)
    return LinearAttentionState(
        torch.zeros(b, h, e, v.shape[-1], dtype=dtype, device=q.device),
        torch.zeros(b, h, e, dtype=dtype, device=q.device),
    )


def quadratic_chunk(feature_dim: int, head_dim: int) -> int:
    """Chunk length of :func:`based_chunked` by default: ``max(64, 2 E Dh // (F + Dh))`` tokens
    (see the module docstring)."""
    return max(64, (2 * expanded_dim(feature_dim) * head_dim) // (feature_dim + head_dim))


def final_state(
    k: torch.Tensor, v: torch.Tensor, initial_state: LinearAttentionState | None = None
) -> LinearAttentionState:
    """State after reading all of k [B, T, H, F], v [B, T, H, Dh] (from ``initial_state``, else zero)."""
    phi_k = taylor_feature_map(k)
    kv = torch.einsum("bthe,bthd->bhed", phi_k, v)
    z = phi_k.sum(dim=1)  # [B, H, E]
    if initial_state is not None:
        kv0, z0 = initial_state
        kv, z = kv + kv0, z + z0
    return LinearAttentionState(kv, z)


def state_read(phi_q: torch.Tensor, kv: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The read of a fixed state by queries: phi_q [B, T, H, E], kv [B, H, E, Dh], z [B, H, E] ->
    (numerator [B, T, H, Dh], denominator [B, T, H]), for every query the same state."""
    return torch.einsum("bthe,bhed->bthd", phi_q, kv), torch.einsum("bthe,bhe->bth", phi_q, z)


def based_quadratic(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = True,
    eps: float = 1e-6,
    initial_state: LinearAttentionState | None = None,
) -> tuple[torch.Tensor, LinearAttentionState]:
    """Definition form. q, k [B, T, H, F]; v [B, T, H, Dh] -> (y [B, T, H, Dh], final state)."""
    _check(q, k, v)
    t = q.shape[1]
    a = taylor_kernel(q, k)  # [B, H, T, T]
    if causal:
        a = a * torch.ones(t, t, dtype=torch.bool, device=q.device).tril()
    num = torch.einsum("bhij,bjhd->bihd", a, v)
    den = a.sum(-1).transpose(1, 2)  # [B, T, H]
    if initial_state is not None:
        phi_q = taylor_feature_map(q)
        kv0, z0 = initial_state
        num0, den0 = state_read(phi_q, kv0.to(q.dtype), z0.to(q.dtype))
        num, den = num + num0, den + den0
    y = num / (den.unsqueeze(-1) + eps)
    return y, final_state(k, v, initial_state)


def based_chunked(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = True,
    eps: float = 1e-6,
    initial_state: LinearAttentionState | None = None,
    chunk_size: int | None = None,
    need_state: bool = True,
) -> tuple[torch.Tensor, LinearAttentionState | None]:
    """Chunked form, same result as :func:`based_quadratic` with O(T * chunk) kernel memory.

    The inter-chunk state (kv, z) is carried from chunk to chunk; within a
    chunk the causal T_c x T_c kernel matrix is used (``chunk_size`` None:
    :func:`quadratic_chunk`). With ``need_state=False`` (training) the state is not built where
    no later chunk reads it, and None is returned in its place; a non-causal call on a sequence
    no longer than one chunk then uses the T x T kernel matrix alone.
    """
    _check(q, k, v)
    t = q.shape[1]
    if chunk_size is None:
        chunk_size = quadratic_chunk(q.shape[-1], v.shape[-1])
    if not causal:
        if not need_state and initial_state is None and t <= chunk_size:
            return kernel_attention(q, k, v, eps=eps), None
        state = final_state(k, v, initial_state)
        phi_q = taylor_feature_map(q)
        num, den = state_read(phi_q, state.kv.to(q.dtype), state.z.to(q.dtype))
        return num / (den.unsqueeze(-1) + eps), (state if need_state else None)
    kv = z = None
    if initial_state is not None:
        kv, z = (x.to(q.dtype) for x in initial_state)
    elif need_state:
        kv, z = zero_state(q, v).to(q.dtype)
    if kv is None and 0 < t <= chunk_size:  # training on a short sequence: one normalised read
        return kernel_attention(q, k, v, causal_cols=t, eps=eps), None
    outs = []
    for start in range(0, t, chunk_size):
        qc, kc, vc = (
            q[:, start : start + chunk_size],
            k[:, start : start + chunk_size],
            v[:, start : start + chunk_size],
        )
        num, den = kernel_matrix_read(qc, kc, vc, causal=True)
        if kv is not None and z is not None:  # both or neither
            phi_q = taylor_feature_map(qc)
            num0, den0 = state_read(phi_q, kv, z)
            num, den = num + num0, den + den0
        outs.append(num / (den.unsqueeze(-1) + eps))
        if need_state or start + chunk_size < t:
            phi_k = taylor_feature_map(kc)
            kv_c = torch.einsum("bthe,bthd->bhed", phi_k, vc)
            kv = kv_c if kv is None else kv + kv_c
            z = phi_k.sum(dim=1) if z is None else z + phi_k.sum(dim=1)
    y = torch.cat(outs, dim=1) if outs else v.new_zeros(v.shape)
    if not need_state:
        return y, None
    assert kv is not None and z is not None  # built from a zero or given state above
    return y, LinearAttentionState(kv, z)


def based_step(
    q_t: torch.Tensor,
    k_t: torch.Tensor,
    v_t: torch.Tensor,
    state: LinearAttentionState,
    *,
    eps: float = 1e-6,
) -> tuple[torch.Tensor, LinearAttentionState]:
    """One causal decoding step: q_t, k_t [B, H, F], v_t [B, H, Dh]; state kv [B,H,E,Dh], z [B,H,E].

    Adds token t to the state, then reads it: returns (y_t [B, H, Dh], new state).
    """
    phi_q = taylor_feature_map(q_t)
    phi_k = taylor_feature_map(k_t)
    kv0, z0 = state
    kv = kv0 + phi_k.unsqueeze(-1) * v_t.unsqueeze(-2)
    z = z0 + phi_k
    num = torch.einsum("bhe,bhed->bhd", phi_q, kv)
    den = torch.einsum("bhe,bhe->bh", phi_q, z)
    return num / (den.unsqueeze(-1) + eps), LinearAttentionState(kv, z)


def based_step_each(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    state: LinearAttentionState,
    *,
    eps: float = 1e-6,
) -> torch.Tensor:
    """C alternative decoding steps from each of R states: q, k [R, C, H, F], v [R, C, H, Dh];
    state kv [R, H, E, Dh], z [R, H, E]. Returns y [R, C, H, Dh], entry (r, c) equal to
    :func:`based_step` of token c from state r, without building the R x C new states: adding
    phi(k) v^T and reading with phi(q) is the state's read plus the token's own term
    (phi(q) . phi(k)) v, so a step costs E (Dh + 1) multiply-adds a head instead of a new
    [E, Dh] state."""
    kv0, z0 = state
    if q.dim() != 4 or q.shape[0] != kv0.shape[0]:
        raise ValueError(
            f"based_step_each: q must be [R, C, H, F] with R = the state's batch ({kv0.shape[0]}); "
            f"got {tuple(q.shape)}"
        )
    phi_q = taylor_feature_map(q)
    own = (phi_q * taylor_feature_map(k)).sum(-1)  # [R, C, H]
    num, den = state_read(phi_q, kv0, z0)  # the C candidates are the queries
    num, den = num + own.unsqueeze(-1) * v, den + own
    return num / (den.unsqueeze(-1) + eps)
