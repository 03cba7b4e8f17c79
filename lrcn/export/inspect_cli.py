"""`vc-inspect MODEL.onnx`: print what the model is, then show its graph in Netron on localhost."""

from __future__ import annotations

from typing import Annotated

import typer

from lrcn.runtime.console import one_line_errors

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)


def show(
    path: str, *, summary_only: bool = False, port: int | None = None, browse: bool = True, as_json: bool = False
) -> None:
    """Print the summary; unless summary_only, serve Netron until Ctrl-C. Shared with vc-export --inspect."""
    from lrcn.export.inspect import format_summary, serve, summarize

    info = summarize(path)
    if as_json:
        import json

        meta = info["metadata"]
        typer.echo(json.dumps({**info, "metadata": json.loads(meta.to_json()) if meta else None}, indent=2))
    else:
        typer.echo(format_summary(info))
    if summary_only:
        return
    import netron

    served = serve(path, port, browse)
    try:
        typer.echo(f"Netron: {served.url}  (Ctrl-C stops)")
        netron.wait()  # returns on Ctrl-C, after stopping the server
    finally:
        served.close()
    typer.echo("stopped")


@app.command()
def main(
    model: Annotated[str, typer.Argument(help="An .onnx file (vc-export writes artifacts/models/<family>.onnx).")],
    summary_only: Annotated[bool, typer.Option("--summary-only", help="Print the summary and exit.")] = False,
    port: Annotated[int | None, typer.Option(help="Netron port on 127.0.0.1 (default: a free one).")] = None,
    browse: Annotated[bool, typer.Option("--browse/--no-browse", help="Open a web browser on the URL.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Inputs and outputs with their symbolic dims, opset, operators, parameters, size, metadata; then Netron."""
    with one_line_errors():
        if port is not None and not 0 <= port <= 65535:
            raise ValueError(f"--port must be in 0..65535, got {port}")
        show(model, summary_only=summary_only, port=port, browse=browse, as_json=as_json)


if __name__ == "__main__":
    app()
