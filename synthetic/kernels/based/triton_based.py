"""Autograd wrappers around the Triton Based / prefix-linear-attention kernels.

Public functions return ``(y, (kv, z))`` like the references: y [B, T, H, D] in the input dtype,
the state kv [B, H, E, D] and z [B, H, E] in fp32. Gradients flow to q, k, v, k_enc, v_enc and
the initial state; the returned state is not differentiable through this path (asking for its
gradient raises instead of returning something wrong).

The kernels keep each symmetric second-order pair (a, b), (b, a) once, so the returned state
splits a pair's total equally between kv[1+F+a*F+b] and kv[1+F+b*F+a]. For states built from
keys (always symmetric) this is exactly the reference state; for an arbitrary initial state it is
its symmetrised version, which gives the same outputs (phi(q) . kv only sees the sum).
"""

from __future__ import annotations

import math

import torch

from synthetic.kernels.based import launch
from synthetic.kernels.based.triton_bwd import based_bwd_dkv_kernel, based_bwd_dq_kernel, based_bwd_enc_kernel
from synthetic.kernels.based.triton_fwd import based_fwd_kernel, feature_widths
from synthetic.kernels.based.triton_state import (
    based_state_kernel,
    public_to_rows,
    state_rows,
)

State = tuple[torch.Tensor, torch.Tensor]
_SUPPORTED = (torch.float32, torch.float16, torch.bfloat16)


def _dims(q: torch.Tensor, v: torch.Tensor) -> tuple[int, int, int, int, int]:
    b, t, h, f = q.shape
    return b, t, h, f, v.shape[-1]


def _scales(f: int) -> tuple[float, float, float]:
    """(scale1, scale_d, scale_w) = (F^-1/4, 1/sqrt(2F), 1/sqrt(F))."""
    return f**-0.25, 1.0 / math.sqrt(2.0 * f), 1.0 / math.sqrt(f)


_PAIRS: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = {}


def _pair_tables(f: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """int32 [W2] tables of the pairs (a, b), a < b, behind w's columns; -1 pads."""
    key = (f, str(device))
    if key not in _PAIRS:
        w2 = feature_widths(f)[2]
        pairs = [(a, b) for a in range(f) for b in range(a + 1, f)]
        pa = torch.full((w2,), -1, dtype=torch.int32)
        pb = torch.full((w2,), -1, dtype=torch.int32)
        if pairs:
            pa[: len(pairs)] = torch.tensor([a for a, _ in pairs], dtype=torch.int32)
            pb[: len(pairs)] = torch.tensor([b for _, b in pairs], dtype=torch.int32)
        _PAIRS[key] = (pa.to(device), pb.to(device))
    return _PAIRS[key]


def _widths(f: int) -> dict[str, int]:
    fp, w1, w2 = feature_widths(f)
    return dict(F=f, FP=fp, W1=w1, W2=w2)


def _segment_length(n_tokens: int, segments: int, align: int) -> int:
    """Tokens per segment (a multiple of ``align``) when ``n_tokens`` are cut into about
    ``segments`` pieces."""
    per = triton_cdiv(max(n_tokens, 1), max(segments, 1))
    return triton_cdiv(per, align) * align


def _filling_segment_length(n_tokens: int, programs: int, bt: int, device: torch.device) -> int:
    """Segment length (a multiple of ``bt``) that gives ``programs`` programs per segment enough
    segments to fill the GPU (launch.target_programs), at least one chunk per segment."""
    want = triton_cdiv(launch.target_programs(device), programs)
    return _segment_length(n_tokens, min(want, triton_cdiv(max(n_tokens, 1), bt)), bt)


def _state_pass(
    kx: torch.Tensor, vx: torch.Tensor, lengths: torch.Tensor | None, seg_len: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Partial states of the segments of (kx [B, T, H, F], vx [B, T, H, D]), each sequence cut at
    ``lengths[b]`` (or T): kernel layout [B*H, S, R, D] and [B*H, S, R], fp32. ``seg_len`` None
    picks enough segments to fill the GPU (the encoder sum); otherwise it is the decoder's segment
    length (a multiple of every state-pass chunk length)."""
    b, t, h, f, d = _dims(kx, vx)
    rows = state_rows(f)
    pa, pb = _pair_tables(f, kx.device)
    scale1, scale_d, scale_w = _scales(f)
    key = ("state", kx.dtype, f, d, lengths is not None, t.bit_length(), (b * h).bit_length())
    holder: dict[str, torch.Tensor] = {}

    def run(cfg: dict[str, int]) -> None:
        ndb = triton_cdiv(d, cfg["DB"])
        seg = _filling_segment_length(t, b * h * ndb, cfg["BT"], kx.device) if seg_len is None else seg_len
        nseg = max(1, triton_cdiv(t, seg))
        part = torch.empty(b * h, nseg, rows, d, device=kx.device, dtype=torch.float32)
        zpart = torch.empty(b * h, nseg, rows, device=kx.device, dtype=torch.float32)
        based_state_kernel[(ndb, nseg, b * h)](
            kx,
            vx,
            lengths if lengths is not None else zpart,
            pa,
            pb,
            part,
            zpart,
            t,
            h,
            seg,
            nseg,
            scale1,
            scale_d,
            scale_w,
            D=d,
            DB=cfg["DB"],
            BT=cfg["BT"],
            HAS_LEN=lengths is not None,
            PRECISION=launch.dot_precision(kx.dtype),
            SEL_PRECISION=launch.selection_precision(kx.dtype),
            KT=bool(cfg.get("KT")),
            **launch.compile_options(cfg),
            **_widths(f),
        )
        holder["out"] = (part, zpart)

    cfg = launch.pick_config(key, launch.state_pass_configs(f, d), run)
    run(cfg)
    return holder["out"]


def _base_state(
    f: int, ke, ve, prefix, s_init, z_init, has_enc: bool
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The state every decoder segment starts from, kernel layout [B*H, 1, R, D], [B*H, 1, R]:
    initial state (converted from the public layout) plus the encoder sum; None if zero."""
    base = None
    if s_init is not None:
        bh = s_init.shape[0] * s_init.shape[1]
        kv = public_to_rows(s_init.reshape(bh, 1, *s_init.shape[2:]), f)
        z = public_to_rows(z_init.reshape(bh, 1, -1, 1), f)[..., 0]
        base = (kv, z)
    if has_enc:
        part, zpart = _state_pass(ke, ve, prefix, None)
        enc = (part.sum(1, keepdim=True), zpart.sum(1, keepdim=True))
        base = enc if base is None else (base[0] + enc[0], base[1] + enc[1])
    return base


class _BasedFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, ke, ve, prefix, s_init, z_init, causal: bool, has_enc: bool, eps: float):
        b, t, h, f, d = _dims(q, v)
        e = 1 + f + f * f
        scale1, scale_d, scale_w = _scales(f)
        pa, pb = _pair_tables(f, q.device)
        o = torch.empty_like(v)
        den = torch.empty(b, t, h, device=q.device, dtype=torch.float32)
        s_out = torch.empty(b, h, e, d, device=q.device, dtype=torch.float32)
        z_out = torch.empty(b, h, e, device=q.device, dtype=torch.float32)
        base = _base_state(f, ke, ve, prefix, s_init, z_init, has_enc)
        precision, sel_precision = launch.dot_precision(q.dtype), launch.selection_precision(q.dtype)
        align = launch.segment_align()

        def run(cfg: dict[str, int]) -> tuple[tuple[torch.Tensor, torch.Tensor] | None, int]:
            seg = _segment_length(t, cfg.get("SEGS", 1), align)
            nseg = max(1, triton_cdiv(t, seg))
            starts = base
            if causal and nseg > 1:
                part, zpart = _state_pass(k, v, None, seg)
                # exclusive prefix sum over segments: segment s starts from segments < s
                part = torch.cumsum(part, 1).sub_(part)
                zpart = torch.cumsum(zpart, 1).sub_(zpart)
                starts = (part, zpart) if base is None else (part.add_(base[0]), zpart.add_(base[1]))
            grid = (triton_cdiv(d, cfg["DB"]), nseg, b * h)
            based_fwd_kernel[grid](
                q,
                k,
                v,
                starts[0] if starts is not None else den,
                starts[1] if starts is not None else den,
                pa,
                pb,
                o,
                den,
                s_out,
                z_out,
                t,
                h,
                seg,
                nseg,
                starts[0].shape[1] if starts is not None else 1,
                scale1,
                scale_d,
                scale_w,
                eps,
                D=d,
                DB=cfg["DB"],
                BT=cfg["BT"],
                HAS_START=starts is not None,
                CAUSAL=causal,
                PRECISION=precision,
                SEL_PRECISION=sel_precision,
                TS=bool(cfg.get("TS")),
                **launch.compile_options(cfg),
                **_widths(f),
            )
            return starts, seg

        segs = launch.decoder_segments(t, b * h, q.device)
        has_init = s_init is not None
        key = ("fwd", q.dtype, f, d, causal, has_enc, has_init, t.bit_length(), (b * h).bit_length())
        cfg = launch.pick_config(key, launch.with_segments(launch.candidate_configs(f, d), segs), run)
        starts, seg = run(cfg)
        start_kv, start_z = starts if starts is not None else (None, None)
        ctx.save_for_backward(q, k, v, ke, ve, prefix, o, den, start_kv, start_z)
        ctx.flags = (causal, has_enc, has_init, eps, seg)
        ctx.set_materialize_grads(False)
        return o, s_out, z_out

    @staticmethod
    def backward(ctx, do, ds_out, dz_out):
        if ds_out is not None or dz_out is not None:
            raise NotImplementedError(
                "the Triton Based path does not backpropagate through the returned state; "
                "use impl='reference' if you need gradients of the final state"
            )
        q, k, v, ke, ve, prefix, o, den, start_kv, start_z = ctx.saved_tensors
        causal, has_enc, has_init, eps, seg = ctx.flags
        starts = (start_kv, start_z) if start_kv is not None else None
        b, t, h, f, d = _dims(q, v)
        if do is None:
            do = torch.zeros_like(o)
        inv = 1.0 / (den + eps)
        dof = do.float()
        g = (dof * inv[..., None]).to(q.dtype).contiguous()
        hh = (-(dof * o.float()).sum(-1) * inv).contiguous()

        def run(cfg: dict[str, int]):
            return _bwd_launch(cfg, q, k, v, ke, ve, prefix, starts, seg, g, hh, causal, has_enc, has_init)

        key = ("bwd", q.dtype, f, d, causal, has_enc, has_init, t.bit_length(), (b * h).bit_length())
        cfg = launch.pick_config(key, launch.candidate_configs(f, d, for_backward=True), run)
        dq, dk, dv, dke, dve, ds_init, dz_init = run(cfg)
        return dq, dk, dv, dke, dve, None, ds_init, dz_init, None, None, None


def triton_cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _bwd_launch(cfg, q, k, v, ke, ve, prefix, starts, seg, g, hh, causal, has_enc, has_init):
    """dq (segment-parallel from the forward's segment starts), then dk, dv, d(k_enc), d(v_enc)
    and the initial state's gradient (one reverse walk per batch x head x D-block)."""
    b, t, h, f, d = _dims(q, v)
    te = ke.shape[1] if has_enc else 0
    e = 1 + f + f * f
    scale1, scale_d, scale_w = _scales(f)
    pa, pb = _pair_tables(f, q.device)
    ndb = triton_cdiv(d, cfg["DB"])
    grid = (ndb, b * h)
    dev = q.device
    dq_part = torch.empty(ndb, b, t, h, f, device=dev, dtype=torch.float32)
    dk_part = torch.zeros(ndb, b, t, h, f, device=dev, dtype=torch.float32)
    dv = torch.zeros_like(v)
    dke_part = torch.zeros(ndb, b, te, h, f, device=dev, dtype=torch.float32) if has_enc else None
    dve = torch.zeros_like(ve) if has_enc else None
    # encoder gradients as a parallel map after the reverse walk (experimental, not yet GPU-timed)
    parallel_enc = has_enc and launch.experimental()
    rows = state_rows(f)
    rev = (
        (
            torch.empty(b * h, rows, d, device=dev, dtype=torch.float32),
            torch.empty(b * h, rows, device=dev, dtype=torch.float32),
        )
        if parallel_enc
        else None
    )
    ds_init = torch.empty(b, h, e, d, device=dev, dtype=torch.float32) if has_init else None
    dz_init = torch.empty(b, h, e, device=dev, dtype=torch.float32) if has_init else None
    dummy = hh
    common = dict(
        D=d,
        DB=cfg["DB"],
        BT=cfg["BT"],
        PRECISION=launch.dot_precision(q.dtype),
        SEL_PRECISION=launch.selection_precision(q.dtype),
        **launch.compile_options(cfg),
        **_widths(f),
    )
    enc = (ke, ve, prefix) if has_enc else (dummy, dummy, dummy)
    nseg = max(1, triton_cdiv(t, seg))
    based_bwd_dq_kernel[(ndb, nseg, b * h)](
        q,
        k,
        v,
        starts[0] if starts is not None else dummy,
        starts[1] if starts is not None else dummy,
        pa,
        pb,
        g,
        hh,
        dq_part,
        b,
        t,
        h,
        seg,
        starts[0].shape[1] if starts is not None else 1,
        scale1,
        scale_d,
        scale_w,
        HAS_START=starts is not None,
        CAUSAL=causal,
        **common,
    )
    based_bwd_dkv_kernel[grid](
        q,
        k,
        v,
        *enc,
        pa,
        pb,
        g,
        hh,
        dk_part,
        dv,
        dke_part if has_enc else dummy,
        dve if has_enc else dummy,
        ds_init if has_init else dummy,
        dz_init if has_init else dummy,
        rev[0] if parallel_enc else dummy,
        rev[1] if parallel_enc else dummy,
        b,
        t,
        te,
        h,
        scale1,
        scale_d,
        scale_w,
        HAS_ENC=has_enc,
        CAUSAL=causal,
        STORE_DINIT=has_init,
        STORE_REV=parallel_enc,
        **common,
    )
    if parallel_enc:
        seg = _filling_segment_length(te, b * h * ndb, cfg["BT"], dev)
        nseg = max(1, triton_cdiv(te, seg))
        based_bwd_enc_kernel[(ndb, nseg, b * h)](
            ke,
            ve,
            prefix,
            pa,
            pb,
            rev[0],
            rev[1],
            dke_part,
            dve,
            b,
            te,
            h,
            seg,
            scale1,
            scale_d,
            scale_w,
            **common,
        )
    dq = dq_part.sum(0).to(q.dtype)
    dk = dk_part.sum(0).to(k.dtype) if causal else None
    dv = dv if causal else None
    dke = dke_part.sum(0).to(ke.dtype) if has_enc else None
    return dq, dk, dv, dke, dve, ds_init, dz_init


def _check_inputs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    if q.dim() != 4 or k.shape != q.shape or v.dim() != 4 or v.shape[:3] != q.shape[:3]:
        raise ValueError(
            "expected q, k [B, T, H, F] and v [B, T, H, D]; "
            f"got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    if not (q.dtype == k.dtype == v.dtype) or q.dtype not in _SUPPORTED:
        raise TypeError(
            f"q, k, v must share one dtype among {_SUPPORTED}; got {q.dtype}, {k.dtype}, {v.dtype}"
        )
    if q.shape[-1] > 32:
        raise ValueError(f"feature dim F={q.shape[-1]} is not supported by the Triton kernel (F <= 32)")
    if v.shape[-1] > 256:
        raise ValueError(f"value head dim D={v.shape[-1]} is not supported by the Triton kernel (D <= 256)")


def based_triton(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = True,
    eps: float = 1e-6,
    initial_state: State | None = None,
) -> tuple[torch.Tensor, State]:
    """Triton Based linear attention; same contract as
    :func:`synthetic.kernels.based.reference.based_chunked`."""
    _check_inputs(q, k, v)
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    s_init = z_init = None
    if initial_state is not None:
        s_init = initial_state[0].float().contiguous()
        z_init = initial_state[1].float().contiguous()
    if causal:
        y, s, z = _BasedFunction.apply(q, k, v, None, None, None, s_init, z_init, True, False, eps)
    else:
        if initial_state is not None:
            raise ValueError(
                "initial_state is not supported with causal=False (the state is the whole sequence)"
            )
        b, t = q.shape[:2]
        prefix = torch.full((b,), t, dtype=torch.int32, device=q.device)
        y, s, z = _BasedFunction.apply(q, k, v, k, v, prefix, None, None, False, True, eps)
    return y, (s, z)
