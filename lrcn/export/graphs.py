"""The graphs `vc-export` writes, as small nn.Modules around a trained LRCN, and the export call.

Shapes (B batch, T time, C channels of the modality, L latent_dim, K classes, H hidden; an ensemble of
M members has L = M * latent_dim and H = M * hidden_size, its members' side by side):
- full:    frames (B, T, C, S, S)                 -> logits (B, K), probs (B, K)
- encoder: frame (B, C, S, S)                     -> features (B, L)
- head:    features (B, T, L)                     -> logits (B, K), probs (B, K)
- step:    frame (B, C, S, S), h, c (layers, B, H) -> probs (B, K), h_out, c_out (layers, B, H)
B and T are symbolic ("batch", "time") in the saved files.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn

from lrcn.runtime import contract as K

# Example sizes for tracing: torch.export specialises a dim whose example is 0 or 1, so a
# batch-1 or T-1 example would freeze that axis. 2 and 5 also differ from C (3 or 6).
EXAMPLE_BATCH, EXAMPLE_TIME = 2, 5
DEFAULT_OPSET = 18
"""Opset 18: onnxruntime 1.14 (2023) and every later release runs it."""
STREAM_INSTEAD = "no frame-by-frame state exists; stream with encoder + head (exact sliding window)"


def step_absent(cfg) -> str | None:
    """Why a model's export has no step graph (ModelConfig.step_absent), None when it has one."""
    why = cfg.step_absent
    return f"{why}, so {STREAM_INSTEAD}" if why else None


def _scores(logits: torch.Tensor):
    return logits, torch.softmax(logits, dim=-1)


class _AroundModel(nn.Module):
    """A graph that runs (part of) a trained LRCN, held whole so its weights keep their names."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model


class FullGraph(_AroundModel):
    def forward(self, frames: torch.Tensor):
        return _scores(self.model(frames))


class EncoderGraph(_AroundModel):
    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        return self.model.encode(frame)


class HeadGraph(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.head = model.head  # the head alone: the encoder's weights stay out of this file

    def forward(self, features: torch.Tensor):
        return _scores(self.head(features))


class StepGraph(_AroundModel):
    """One frame through the encoder and one LSTM step; the caller carries (h, c)."""

    def forward(self, frame: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        logits, h_out, c_out = self.model.head.step(self.model.encode(frame), h, c)
        return torch.softmax(logits, dim=-1), h_out, c_out


@dataclass
class GraphSpec:
    """One graph to export: its module, example inputs, names and symbolic axes."""

    kind: str
    module: nn.Module
    example: tuple[torch.Tensor, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    axes: dict[str, dict[int, str]]
    """input name -> {axis: dim name}; built from the contract's names, never typed by hand."""
    output_axes: dict[str, dict[int, str]]
    """output name -> {axis: dim name}: what the gate expects symbolic in the saved outputs."""


def graph_specs(model: nn.Module, *, stream: bool = True) -> list[GraphSpec]:
    """The full graph, and with `stream` the encoder, head and (where the head has a step form) step graphs."""
    cfg = model.cfg
    b, t, c, s = EXAMPLE_BATCH, EXAMPLE_TIME, cfg.in_channels, cfg.img_size
    gen = torch.Generator().manual_seed(0)
    batch, time = {0: K.BATCH_DIM}, {0: K.BATCH_DIM, 1: K.TIME_DIM}
    scores = {K.OUTPUT_LOGITS: batch, K.OUTPUT_PROBS: batch}
    state = {1: K.BATCH_DIM}
    specs = [
        GraphSpec(
            "full",
            FullGraph(model),
            (torch.randn(b, t, c, s, s, generator=gen),),
            (K.INPUT_FRAMES,),
            (K.OUTPUT_LOGITS, K.OUTPUT_PROBS),
            {K.INPUT_FRAMES: time},
            scores,
        )
    ]
    if not stream:
        return specs
    specs += [
        GraphSpec(
            "encoder",
            EncoderGraph(model),
            (torch.randn(b, c, s, s, generator=gen),),
            (K.INPUT_FRAME,),
            (K.FEATURES,),
            {K.INPUT_FRAME: batch},
            {K.FEATURES: batch},
        ),
        GraphSpec(
            "head",
            HeadGraph(model),
            (torch.randn(b, t, cfg.feature_width, generator=gen),),
            (K.FEATURES,),
            (K.OUTPUT_LOGITS, K.OUTPUT_PROBS),
            {K.FEATURES: time},
            scores,
        ),
    ]
    if step_absent(cfg) is None:
        zeros = torch.zeros(cfg.lstm_layers, b, cfg.state_width)
        specs.append(
            GraphSpec(
                "step",
                StepGraph(model),
                (torch.randn(b, c, s, s, generator=gen), zeros, zeros.clone()),
                (K.INPUT_FRAME, K.STATE_H, K.STATE_C),
                (K.OUTPUT_PROBS, K.STATE_H_OUT, K.STATE_C_OUT),
                {K.INPUT_FRAME: batch, K.STATE_H: state, K.STATE_C: state},
                {K.OUTPUT_PROBS: batch, K.STATE_H_OUT: state, K.STATE_C_OUT: state},
            )
        )
    return specs


def _reset_rnn_dispatch() -> None:
    # torch 2.14's exporter swaps in a while_loop LSTM decomposition (which keeps T dynamic) by
    # editing py_kernels directly, without clearing the op's dispatch cache; the second export
    # in a process then unrolls the LSTM over the example T and freezes the time axis.
    for op in (torch.ops.aten.lstm.input, torch.ops.aten.gru.input):
        cache = getattr(op, "_dispatch_cache", None)
        if cache is not None:
            cache.clear()


def export_graph(spec: GraphSpec, opset: int = DEFAULT_OPSET):
    """Export one graph with the dynamo exporter -> onnx.ModelProto (not yet checked)."""
    dims: dict[str, torch.export.Dim] = {}

    def dim(name: str):
        return dims.setdefault(name, torch.export.Dim(name))

    # positional, so the forward() argument names need not match the contract's input names
    shapes = tuple({ax: dim(d) for ax, d in spec.axes.get(name, {}).items()} or None for name in spec.inputs)
    _reset_rnn_dispatch()
    spec.module.eval()
    with warnings.catch_warnings(), torch.inference_mode(False):
        warnings.simplefilter("ignore")  # exporter-internal deprecation chatter, not ours to act on
        program = torch.onnx.export(
            spec.module,
            spec.example,
            None,
            input_names=list(spec.inputs),
            output_names=list(spec.outputs),
            dynamic_shapes=shapes,
            opset_version=opset,
            dynamo=True,
            optimize=True,
            verbose=False,
        )
    _reset_rnn_dispatch()
    return program.model_proto
