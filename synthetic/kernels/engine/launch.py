"""Host side of the engine: buffers, grids and keyword launches of the kernels, forward and backward.

Shapes (symbols: docs/synthetic/glossary.md; D = Dh as in blocks.py): q, k [B, T, H, F],
v [B, T, H, D] contiguous, one dtype; an
encoder's k, v [B, Te, H, *] and lengths int32 [B]; an initial state (kv [B, H, E, D],
z [B, H, E]) fp32 contiguous. :mod:`synthetic.kernels.engine.autograd` validates nothing and
calls these with exactly that; the public ops check their inputs first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import triton

from synthetic.kernels.dispatch import check_grid_rows
from synthetic.kernels.engine import autotune
from synthetic.kernels.engine.backward import based_bwd_dkv_kernel, based_bwd_dq_kernel, based_bwd_enc_kernel
from synthetic.kernels.engine.blocks import feature_widths
from synthetic.kernels.engine.forward import based_fwd_kernel
from synthetic.kernels.engine.state import based_state_kernel, public_to_rows, state_rows
from synthetic.kernels.feature_map import expanded_dim
from synthetic.kernels.state import LinearAttentionState


@dataclass(frozen=True)
class Encoder:
    """The non-causal input of prefix linear attention: the first ``lengths[b]`` tokens of
    (k [B, Te, H, F], v [B, Te, H, D]) enter the state every query reads (lengths int32 [B])."""

    k: torch.Tensor
    v: torch.Tensor
    lengths: torch.Tensor


@dataclass(frozen=True)
class Dims:
    """Sizes of a call: batch, time, heads, feature dim, value head dim."""

    b: int
    t: int
    h: int
    f: int
    d: int

    @classmethod
    def of(cls, x: torch.Tensor, v: torch.Tensor) -> Dims:
        """From x [B, T, H, F] and v [B, T, H, D]; B x H beyond a grid axis is refused
        (:func:`~synthetic.kernels.dispatch.check_grid_rows`)."""
        b, t, h, f = x.shape
        check_grid_rows(b, h, "the Based engine")
        return cls(b=b, t=t, h=h, f=f, d=v.shape[-1])

    @property
    def e(self) -> int:
        """E = 1 + F + F^2, the public state's feature rows."""
        return expanded_dim(self.f)


@dataclass(frozen=True)
class Forward:
    """What the forward launch returns and the backward needs: outputs o [B, T, H, D], the
    normaliser den [B, T, H] (fp32), the final state (public layout, fp32; the backward does not
    read it), the segment starts (kernel layout [B*H, S, R, D], [B*H, S, R]; None if all zero)
    and the segment length."""

    o: torch.Tensor
    den: torch.Tensor
    kv: torch.Tensor | None
    z: torch.Tensor | None
    starts: LinearAttentionState | None
    seg: int


@dataclass(frozen=True)
class Gradients:
    """Gradients of q, k, v, the encoder's k, v and the initial state (None where not an input,
    or for k, v without CAUSAL: the non-causal walk reads them only as its encoder)."""

    dq: torch.Tensor
    dk: torch.Tensor | None
    dv: torch.Tensor | None
    dk_enc: torch.Tensor | None
    dv_enc: torch.Tensor | None
    dkv_init: torch.Tensor | None
    dz_init: torch.Tensor | None


def feature_constants(f: int) -> dict[str, int]:
    """The constexpr widths F, FP, W1, W2 of feature dim ``f`` (blocks.py)."""
    fp, w1, w2 = feature_widths(f)
    return dict(F=f, FP=fp, W1=w1, W2=w2)


def feature_scales(f: int) -> dict[str, float]:
    """scale1 = F^-1/4, scale_d = 1/sqrt(2F), scale_w = 1/sqrt(F) (blocks.py)."""
    return dict(scale1=f**-0.25, scale_d=1.0 / math.sqrt(2.0 * f), scale_w=1.0 / math.sqrt(f))


def block_constants(cfg: dict[str, int], dtype: torch.dtype) -> dict:
    """The block shape, dot precisions and compile options of a launch with candidate ``cfg``."""
    return dict(
        DB=cfg["DB"],
        BT=cfg["BT"],
        PRECISION=autotune.dot_precision(dtype),
        SEL_PRECISION=autotune.selection_precision(dtype),
        **autotune.compile_options(cfg),
    )


_PAIRS: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = {}


def pair_tables(f: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
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


def segment_length(n_tokens: int, segments: int, align: int) -> int:
    """Tokens per segment (a multiple of ``align``) when ``n_tokens`` are cut into about
    ``segments`` pieces."""
    per = triton.cdiv(max(n_tokens, 1), max(segments, 1))
    return triton.cdiv(per, align) * align


def filling_segment_length(n_tokens: int, programs: int, bt: int, device: torch.device) -> int:
    """Segment length (a multiple of ``bt``) that gives ``programs`` programs per segment enough
    segments to fill the GPU (autotune.target_programs), at least one chunk per segment."""
    want = triton.cdiv(autotune.target_programs(device), programs)
    return segment_length(n_tokens, min(want, triton.cdiv(max(n_tokens, 1), bt)), bt)


def state_pass(
    k: torch.Tensor, v: torch.Tensor, *, lengths: torch.Tensor | None, seg_len: int | None
) -> LinearAttentionState:
    """Partial states of the segments of (k [B, T, H, F], v [B, T, H, D]), each sequence cut at
    ``lengths[b]`` (or T): kernel layout [B*H, S, R, D] and [B*H, S, R], fp32. ``seg_len`` None
    picks enough segments to fill the GPU (the encoder sum); otherwise it is the decoder's segment
    length (a multiple of every state-pass chunk length)."""
    n = Dims.of(k, v)
    rows = state_rows(n.f)
    pa, pb = pair_tables(n.f, k.device)
    key = ("state", k.dtype, n.f, n.d, lengths is not None, n.t.bit_length(), (n.b * n.h).bit_length())
    holder: dict[str, LinearAttentionState] = {}

    def run(cfg: dict[str, int]) -> None:
        ndb = triton.cdiv(n.d, cfg["DB"])
        if seg_len is None:
            seg = filling_segment_length(n.t, n.b * n.h * ndb, cfg["BT"], k.device)
        else:
            seg = seg_len
        nseg = max(1, triton.cdiv(n.t, seg))
        part = torch.empty(n.b * n.h, nseg, rows, n.d, device=k.device, dtype=torch.float32)
        zpart = torch.empty(n.b * n.h, nseg, rows, device=k.device, dtype=torch.float32)
        based_state_kernel[(ndb, nseg, n.b * n.h)](
            K=k,
            V=v,
            LEN=lengths if lengths is not None else zpart,
            PA=pa,
            PB=pb,
            P=part,
            PZ=zpart,
            T=n.t,
            H=n.h,
            SEG=seg,
            NSEG=nseg,
            **feature_scales(n.f),
            D=n.d,
            HAS_LEN=lengths is not None,
            KT=bool(cfg.get("KT")),
            **block_constants(cfg, k.dtype),
            **feature_constants(n.f),
        )
        holder["out"] = LinearAttentionState(part, zpart)

    cfg = autotune.pick_config(key, autotune.state_pass_configs(n.f, n.d), run)
    run(cfg)
    return holder["out"]


def base_state(
    f: int, *, encoder: Encoder | None, initial_state: LinearAttentionState | None
) -> LinearAttentionState | None:
    """The state every decoder segment starts from, kernel layout [B*H, 1, R, D], [B*H, 1, R]:
    the initial state (converted from the public layout) plus the encoder sum; None if zero."""
    base = None
    if initial_state is not None:
        kv0, z0 = initial_state
        bh = kv0.shape[0] * kv0.shape[1]
        kv = public_to_rows(kv0.reshape(bh, 1, *kv0.shape[2:]), f)
        z = public_to_rows(z0.reshape(bh, 1, -1, 1), f)[..., 0]
        base = LinearAttentionState(kv, z)
    if encoder is not None:
        part, zpart = state_pass(encoder.k, encoder.v, lengths=encoder.lengths, seg_len=None)
        enc = LinearAttentionState(part.sum(1, keepdim=True), zpart.sum(1, keepdim=True))
        base = enc if base is None else LinearAttentionState(base.kv + enc.kv, base.z + enc.z)
    return base


def forward(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool,
    eps: float,
    encoder: Encoder | None,
    initial_state: LinearAttentionState | None,
) -> Forward:
    """Outputs, normaliser and final state: the state pass (encoder sum; segment starts when the
    autotuner cuts the causal walk into segments), then the forward kernel."""
    n = Dims.of(q, v)
    pa, pb = pair_tables(n.f, q.device)
    o = torch.empty_like(v)
    den = torch.empty(n.b, n.t, n.h, device=q.device, dtype=torch.float32)
    kv_out = torch.empty(n.b, n.h, n.e, n.d, device=q.device, dtype=torch.float32)
    z_out = torch.empty(n.b, n.h, n.e, device=q.device, dtype=torch.float32)
    base = base_state(n.f, encoder=encoder, initial_state=initial_state)

    def run(cfg: dict[str, int]) -> tuple[LinearAttentionState | None, int]:
        seg = segment_length(n.t, cfg.get("SEGS", 1), max(autotune.segment_align(), cfg["BT"]))
        nseg = max(1, triton.cdiv(n.t, seg))
        starts = base
        if causal and nseg > 1:
            part, zpart = state_pass(k, v, lengths=None, seg_len=seg)
            # exclusive prefix sum over segments: segment s starts from segments < s
            part = torch.cumsum(part, 1).sub_(part)
            zpart = torch.cumsum(zpart, 1).sub_(zpart)
            starts = (
                LinearAttentionState(part, zpart)
                if base is None
                else (LinearAttentionState(part.add_(base.kv), zpart.add_(base.z)))
            )
        based_fwd_kernel[(triton.cdiv(n.d, cfg["DB"]), nseg, n.b * n.h)](
            Q=q,
            K=k,
            V=v,
            START=starts.kv if starts is not None else den,
            ZSTART=starts.z if starts is not None else den,
            PA=pa,
            PB=pb,
            O=o,
            DEN=den,
            S_OUT=kv_out,
            Z_OUT=z_out,
            T=n.t,
            H=n.h,
            SEG=seg,
            NSEG=nseg,
            NSTART=starts.kv.shape[1] if starts is not None else 1,
            **feature_scales(n.f),
            eps=eps,
            D=n.d,
            HAS_START=starts is not None,
            CAUSAL=causal,
            TS=bool(cfg.get("TS")),
            **block_constants(cfg, q.dtype),
            **feature_constants(n.f),
        )
        return starts, seg

    segs = autotune.decoder_segments(n.t, n.b * n.h, q.device)
    has_enc, has_init = encoder is not None, initial_state is not None
    key = ("fwd", q.dtype, n.f, n.d, causal, has_enc, has_init, n.t.bit_length(), (n.b * n.h).bit_length())
    candidates = autotune.with_segments(autotune.candidate_configs(n.f, n.d), segs)
    cfg = autotune.pick_config(key, candidates, run)
    starts, seg = run(cfg)
    return Forward(o=o, den=den, kv=kv_out, z=z_out, starts=starts, seg=seg)


def backward(
    do: torch.Tensor,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    fwd: Forward,
    *,
    causal: bool,
    eps: float,
    encoder: Encoder | None,
    has_init: bool,
) -> Gradients:
    """Gradients from the upstream gradient do [B, T, H, D] and the forward's saved tensors."""
    n = Dims.of(q, v)
    inv = 1.0 / (fwd.den + eps)
    dof = do.float()
    g = (dof * inv[..., None]).to(q.dtype).contiguous()
    hh = (-(dof * fwd.o.float()).sum(-1) * inv).contiguous()

    def run(cfg: dict[str, int]) -> Gradients:
        return _backward_launch(cfg, q, k, v, fwd, g, hh, causal=causal, encoder=encoder, has_init=has_init)

    has_enc = encoder is not None
    key = ("bwd", q.dtype, n.f, n.d, causal, has_enc, has_init, n.t.bit_length(), (n.b * n.h).bit_length())
    cfg = autotune.pick_config(key, autotune.candidate_configs(n.f, n.d, for_backward=True), run)
    return run(cfg)


def _backward_launch(
    cfg: dict[str, int],
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    fwd: Forward,
    g: torch.Tensor,
    hh: torch.Tensor,
    *,
    causal: bool,
    encoder: Encoder | None,
    has_init: bool,
) -> Gradients:
    """dq (segment-parallel from the forward's segment starts), then dk, dv, d(k_enc), d(v_enc)
    and the initial state's gradient (one reverse walk per batch x head x D-block)."""
    n = Dims.of(q, v)
    if triton.cdiv(n.t, fwd.seg) > 1 and fwd.seg % cfg["BT"]:  # dq masks a chunk at T only
        raise RuntimeError(f"segment length {fwd.seg} is not a multiple of the chunk length {cfg['BT']}")
    has_enc = encoder is not None
    te = encoder.k.shape[1] if encoder is not None else 0
    pa, pb = pair_tables(n.f, q.device)
    ndb = triton.cdiv(n.d, cfg["DB"])
    dev = q.device
    dq_part = torch.empty(ndb, n.b, n.t, n.h, n.f, device=dev, dtype=torch.float32)
    dk_part = torch.zeros(ndb, n.b, n.t, n.h, n.f, device=dev, dtype=torch.float32)
    dv = torch.zeros_like(v)
    dke_part = torch.zeros(ndb, n.b, te, n.h, n.f, device=dev, dtype=torch.float32) if has_enc else None
    dve = torch.zeros_like(encoder.v) if encoder is not None else None
    # encoder gradients as a parallel map after the reverse walk (opt-in: autotune.experimental)
    parallel_enc = has_enc and autotune.experimental()
    rows = state_rows(n.f)
    rev = (
        (
            torch.empty(n.b * n.h, rows, n.d, device=dev, dtype=torch.float32),
            torch.empty(n.b * n.h, rows, device=dev, dtype=torch.float32),
        )
        if parallel_enc
        else None
    )
    dkv_init = torch.empty(n.b, n.h, n.e, n.d, device=dev, dtype=torch.float32) if has_init else None
    dz_init = torch.empty(n.b, n.h, n.e, device=dev, dtype=torch.float32) if has_init else None
    dummy = hh  # stands for the pointers a launch's flags leave unread
    common = dict(D=n.d, **block_constants(cfg, q.dtype), **feature_constants(n.f), **feature_scales(n.f))
    starts = fwd.starts
    based_bwd_dq_kernel[(ndb, max(1, triton.cdiv(n.t, fwd.seg)), n.b * n.h)](
        Q=q,
        K=k,
        V=v,
        START=starts.kv if starts is not None else dummy,
        ZSTART=starts.z if starts is not None else dummy,
        PA=pa,
        PB=pb,
        G=g,
        HH=hh,
        DQ=dq_part,
        B=n.b,
        T=n.t,
        H=n.h,
        SEG=fwd.seg,
        NSTART=starts.kv.shape[1] if starts is not None else 1,
        HAS_START=starts is not None,
        CAUSAL=causal,
        **common,
    )
    based_bwd_dkv_kernel[(ndb, n.b * n.h)](
        Q=q,
        K=k,
        V=v,
        KE=encoder.k if encoder is not None else dummy,
        VE=encoder.v if encoder is not None else dummy,
        PREFIX=encoder.lengths if encoder is not None else dummy,
        PA=pa,
        PB=pb,
        G=g,
        HH=hh,
        DK=dk_part,
        DV=dv,
        DKE=dke_part if has_enc else dummy,
        DVE=dve if has_enc else dummy,
        DS_INIT=dkv_init if has_init else dummy,
        DZ_INIT=dz_init if has_init else dummy,
        REV=rev[0] if rev is not None else dummy,
        REVZ=rev[1] if rev is not None else dummy,
        B=n.b,
        T=n.t,
        TE=te,
        H=n.h,
        HAS_ENC=has_enc,
        CAUSAL=causal,
        STORE_DINIT=has_init,
        STORE_REV=parallel_enc,
        **common,
    )
    if rev is not None:  # parallel_enc: there is an encoder
        assert encoder is not None
        seg = filling_segment_length(te, n.b * n.h * ndb, cfg["BT"], dev)
        based_bwd_enc_kernel[(ndb, max(1, triton.cdiv(te, seg)), n.b * n.h)](
            KE=encoder.k,
            VE=encoder.v,
            PREFIX=encoder.lengths,
            PA=pa,
            PB=pb,
            REV=rev[0],
            REVZ=rev[1],
            DKE=dke_part,
            DVE=dve,
            B=n.b,
            TE=te,
            H=n.h,
            SEG=seg,
            **common,
        )
    return Gradients(
        dq=dq_part.sum(0).to(q.dtype),
        dk=dk_part.sum(0).to(k.dtype) if causal else None,
        dv=dv if causal else None,
        dk_enc=dke_part.sum(0).to(encoder.k.dtype) if encoder is not None and dke_part is not None else None,
        dv_enc=dve,
        dkv_init=dkv_init,
        dz_init=dz_init,
    )
