"""The web page: an Edit tab and a Restore tab over the same API as the CLI.

    Edit:    photo ──read_image──► model_for(op, jpeg) .apply ──► PNG iTXt / JPEG comment record
                                      └──► before/after slider, download
    Restore: edited file ──read_meta──► load(record's model) .restore ──► restored PNG, download
             (+ original) ──► comparison sheet, PSNR / SSIM

:func:`edit_photo` and :func:`restore_photo` hold the work and need no Gradio; :func:`build_app`
wires them into a ``gradio.Blocks`` (Gradio is imported there, lazily). Uploads arrive as the
browser's bytes (``gr.File``, not ``gr.Image``, which would re-encode them and drop the
record), so every file goes through :func:`restorable.files.read_image` and a bad one gets the
CLI's one-line message.

A file is untrusted input, and so are its name and its record: every piece of one that reaches
a message is escaped (:func:`restorable.web.guard.markdown_text`), so the status line shows it
as text and never as a tag, image or link. The page's own emphasis is added around escaped text.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from restorable.data.split import SAMPLES_DIR as SAMPLES
from restorable.data.split import sample_photos
from restorable.errors import NoModelFits, RestorableError
from restorable.web.guard import html_text
from restorable.web.guard import markdown_text as md

AUTO = "auto"  # model choice: OP (or OP-jpeg for JPEG) on Edit; the file's record on Restore
GRIDS = ("0,0", "0,1", "1,0", "1,1")  # the Restore tab's grid choices (restore --grid)
PREVIEW_SIDE = 2048  # longest side shown on the page; downloads are always full size
JOB_MAX_AGE_S = 3600  # output folders older than this are removed when a new job starts
# The model runs (Apply, Restore) share one concurrency limit: together they are what fills
# memory and the CPU. See restorable.web.serve for the arithmetic behind 1.
HEAVY = "model"
HEAVY_CONCURRENCY = 1

Progress = Callable[[float, str], None]


def _no_progress(fraction: float, desc: str) -> None:
    pass


@dataclass
class EditResult:
    original: np.ndarray
    edited: np.ndarray
    path: Path  # the restorable PNG or JPEG, with its record
    message: str


@dataclass
class RestoreResult:
    restored: np.ndarray
    path: Path  # the restored PNG
    message: str
    sheet: np.ndarray | None = None  # when the original was given
    metrics: dict[str, float] = field(default_factory=dict)


class Workspace:
    """Loaded models and one output folder per job, under a temporary root folder.

    Gradio copies each returned file into its own cache; ours are removed after an hour and
    when the server stops (``close``). ``restorable serve`` puts the root inside its private
    folder (``parent``).
    """

    def __init__(self, weights_dir: str | Path | None = None, parent: str | Path | None = None):
        self.weights_dir = weights_dir
        # mkdtemp: mode 0700, the outputs are the user's photos
        self.root = Path(tempfile.mkdtemp(prefix="restorable-web-", dir=parent))
        self._models: dict[str, object] = {}
        self._lock = threading.Lock()
        self.running = 0  # jobs in flight (the server's shutdown asks)

    @property
    def models(self) -> dict[str, object]:
        """The loaded models by name (``realworld.restore_file`` loads into it too)."""
        return self._models

    def model(self, name: str):
        from restorable.models import load

        with self._lock:
            if name not in self._models:
                self._models[name] = load(name, self.weights_dir)
            return self._models[name]

    def job_dir(self) -> Path:
        now = time.time()
        for old in self.root.iterdir():
            if now - old.stat().st_mtime > JOB_MAX_AGE_S:
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(dir=self.root))

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def model_choices(weights_dir: str | Path | None = None) -> dict[str, list[str]]:
    """Operator id -> its model names, as found at start-up (``models_by_op``)."""
    from restorable.models import WEIGHTS_DIR, models_by_op

    return models_by_op(Path(weights_dir) if weights_dir else WEIGHTS_DIR)


def model_settings(name: str) -> dict:
    """The settings a model takes at apply time (none yet; a model with a strength or λ knob
    will list it here, and the Edit tab will show a control for each)."""
    return {}


def _safe_stem(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).stem).strip("._")
    return stem[:80] or "photo"


def _read(path: str | Path, shown_as: str | None = None, notes: list[str] | None = None):
    """``read_image(path, with_alpha=True)``, with the upload's own name in error messages
    (uploads live under a temporary folder the user never sees)."""
    from restorable.files import read_image

    path = Path(path)
    try:
        return read_image(path, with_alpha=True, notes=notes)
    except RestorableError as exc:
        raise RestorableError(str(exc).replace(str(path), shown_as or path.name)) from None


def _read_record(path: Path):
    """The file's checked record (:func:`restorable.record.read_record`), or None."""
    from restorable.record import read_record

    try:
        return read_record(path)
    except RestorableError as exc:
        raise RestorableError(str(exc).replace(str(path), path.name)) from None


def edit_photo(
    workspace: Workspace,
    photo: str | Path,
    op: str,
    model: str = AUTO,
    jpeg_quality: int | None = None,
    progress: Progress = _no_progress,
) -> EditResult:
    """Apply ``model`` (``AUTO``: ``model_for(op, jpeg)``) to the photo file and write the
    restorable PNG, or JPEG at ``jpeg_quality``, carrying the record ``restorable apply`` writes.
    """
    from restorable.files import write_image
    from restorable.models import model_for
    from restorable.record import make_record

    if not photo:
        raise RestorableError("upload a photo or pick a sample first")
    photo = Path(photo)
    jpeg = jpeg_quality is not None
    name = model_for(op, jpeg, workspace.weights_dir) if model in (None, "", AUTO) else model
    progress(0.05, "reading the photo")
    notes: list[str] = []
    rgb, alpha = _read(photo, notes=notes)
    if jpeg and alpha is not None:
        raise RestorableError(f"{photo.name}: JPEG cannot store transparency; choose PNG")
    progress(0.15, f"loading {name}")
    net = workspace.model(name)
    progress(0.25, f"applying {name} to {rgb.shape[1]}x{rgb.shape[0]} (tiled if large)")
    start = time.perf_counter()
    out = net.apply(rgb, tile="auto")
    seconds = time.perf_counter() - start
    progress(0.9, "writing the file")
    meta = make_record(net, out).as_dict()
    suffix = ".jpg" if jpeg else ".png"
    dst = workspace.job_dir() / f"{_safe_stem(photo.name)}.{net.card.stem}{suffix}"
    write_image(dst, out, jpeg_quality, meta=meta, alpha=alpha)
    kind = f"JPEG q{jpeg_quality}" if jpeg else "PNG"
    size = f"{rgb.shape[1]}x{rgb.shape[0]}"
    lines = [f"**{md(name)}** ({md(net.version)}) on {size}: {seconds:.1f} s"]
    lines.append(
        f"wrote {md(dst.name)} ({kind}, {dst.stat().st_size / 1e6:.2f} MB) with its record"
    )
    lines += [f"note: {md(n)}" for n in notes]
    return EditResult(rgb, out, dst, "  \n".join(lines))


def restore_photo(
    workspace: Workspace,
    edited: str | Path,
    model: str = AUTO,
    original: str | Path | None = None,
    progress: Progress = _no_progress,
    grid: str = AUTO,
) -> RestoreResult:
    """Restore the edited file as ``restorable restore`` does (``realworld.restore_file``): with
    ``model``, or (``AUTO``) the model its record names, or, when a re-save stripped the record,
    the model identified from the pixels; on the grid a crop left it on; with a warning when the
    pixels changed since apply. With the ``original``, also the comparison sheet and PSNR/SSIM.
    ``grid``: "rows,columns" (each 0 or 1) to restore on instead of the grid found (``--grid``).
    """
    import warnings

    from restorable.evaluation.compare import render_sheet
    from restorable.evaluation.metrics import format_psnr, psnr, ssim
    from restorable.files import write_image
    from restorable.realworld import parse_grid, report, restore_file

    if not edited:
        raise RestorableError("upload an edited file (made by 'restorable apply' or this page)")
    edited = Path(edited)
    progress(0.05, "reading the edited file")
    auto = model in (None, "", AUTO)
    if auto and _read_record(edited) is None:
        progress(0.1, "no record in the file: identifying the model from the pixels")
    else:
        progress(0.1, "restoring")
    notes: list[str] = []
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            done = restore_file(
                edited,
                None if auto else model,
                weights_dir=workspace.weights_dir,
                tile="auto",
                notes=notes,
                cache=workspace.models,
                grid=None if grid in (None, "", AUTO) else parse_grid(grid),
            )
    except NoModelFits as exc:
        raise exc.told("choose the model") from None
    except RestorableError as exc:
        raise RestorableError(str(exc).replace(str(edited), edited.name)) from None
    seconds = time.perf_counter() - start
    restored, alpha, model = done.image, done.alpha, done.name
    net = workspace.model(model)
    progress(0.8, "writing the restored photo")
    stem = _safe_stem(edited.name)
    dst = workspace.job_dir() / f"{stem}.restored.png"
    write_image(dst, restored, alpha=alpha)
    lines = [f"restored with **{md(model)}** ({md(net.version)}) in {seconds:.1f} s: "]
    lines[0] += md(dst.name)
    for kind, text in report(done, notes, caught, emphasis=EMPHASIS):
        if kind == "identified":
            lines.append(f"the file holds no record: {md_marked(text)}")
        else:
            lines.append(f"{'**warning**' if kind == 'warning' else 'note'}: {md(text)}")
    result = RestoreResult(restored, dst, "")
    if original:
        original = Path(original)
        progress(0.85, "comparing with the original")
        photo, _ = _read(original)
        if photo.shape != restored.shape:
            raise RestorableError(
                f"{original.name} is {photo.shape[1]}x{photo.shape[0]} but the edited file is "
                f"{restored.shape[1]}x{restored.shape[0]}; give the photo it was made from"
            )
        result.metrics = {"psnr": psnr(photo, restored), "ssim": ssim(photo, restored)}
        title = f"{original.name}   (edited: {edited.name}, restored with {model})"
        result.sheet = render_sheet(photo, _read(edited)[0], restored, title)
        lines.append(
            f"original vs restored: PSNR **{format_psnr(result.metrics['psnr'])}**, "
            f"SSIM **{result.metrics['ssim']:.4f}**"
        )
    result.message = "  \n".join(lines)
    return result


EMPHASIS = "\ue000"  # a private-use character marks emphasis through the escaping


def md_marked(text: str) -> str:
    """``text`` escaped, with the parts wrapped in :data:`EMPHASIS` made bold afterwards."""
    return md(text).replace(EMPHASIS, "**")


def md_emphasised(summary: Callable[[str], str]) -> str:
    """``summary(emphasis)`` (e.g. ``Identification.summary``) escaped, its emphasis bold."""
    return md_marked(summary(EMPHASIS))


def error_text(exc: BaseException) -> str:
    """An error's message as the page's error toast shows it: HTML-escaped text."""
    return html_text(exc)


def preview(img: np.ndarray, side: int = PREVIEW_SIDE) -> np.ndarray:
    """``img`` shrunk to at most ``side`` px on its longest side, for display only."""
    h, w = img.shape[:2]
    if max(h, w) <= side:
        return img
    from PIL import Image

    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.LANCZOS))


CSS = """
#edit-status, #restore-status { min-height: 2.5em; }
"""


def theme():
    """Gradio's default look with the system's own fonts: nothing fetched from elsewhere."""
    import gradio as gr

    return gr.themes.Default(
        font=["ui-sans-serif", "system-ui", "Segoe UI", "Helvetica", "Arial", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Consolas", "Liberation Mono", "monospace"],
    )


def build_app(workspace: Workspace | None = None):
    """The ``gradio.Blocks`` of the page. The model lists are read once, here."""
    import gradio as gr

    from restorable.web import memory

    workspace = workspace or Workspace()
    by_op = model_choices(workspace.weights_dir)
    if not by_op:
        raise RestorableError("no restorable models installed; nothing to serve")
    from restorable.operators import get_operator, operator_ids

    def title(op: str) -> str:
        return get_operator(op).title if op in operator_ids() else op

    ops = list(by_op)
    default_op = "l0" if "l0" in by_op else ops[0]
    all_models = sorted(m for names in by_op.values() for m in names)

    def model_options(op: str) -> list[tuple[str, str]]:
        jpeg = f"{op}-jpeg"
        auto = f"auto: {op}, {jpeg} for JPEG" if jpeg in by_op.get(op, []) else f"auto: {op}"
        return [(auto, AUTO)] + [(m, m) for m in by_op.get(op, [])]

    def shown_error(exc: RestorableError) -> gr.Error:
        return gr.Error(error_text(exc), print_exception=False)

    def on_sample(name: str | None):
        return str(SAMPLES / name) if name else gr.update()

    def on_op(op: str):
        return gr.update(choices=model_options(op), value=AUTO)

    def on_format(fmt: str):
        return gr.update(visible=fmt == "JPEG")

    def on_apply(photo, op, model, fmt, quality, progress=gr.Progress()):  # noqa: B008
        with job():
            return apply(photo, op, model, fmt, quality, progress)

    def on_restore(edited, model, original, grid, progress=gr.Progress()):  # noqa: B008
        with job():
            return restore(edited, model, original, grid, progress)

    @contextlib.contextmanager
    def job():
        workspace.running += 1  # one at a time (HEAVY_CONCURRENCY), so no lock is needed
        try:
            yield
        finally:
            workspace.running -= 1

    def apply(photo, op, model, fmt, quality, progress):
        memory.trim()  # what the last job (maybe one that failed) left free
        try:
            result = edit_photo(
                workspace,
                photo,
                op,
                model,
                int(quality) if fmt == "JPEG" else None,
                progress=lambda f, d: progress(f, desc=d),
            )
        except RestorableError as exc:
            raise shown_error(exc) from None
        shown = (preview(result.original), preview(result.edited)), str(result.path)
        message = result.message
        del result  # the full-size arrays: free before the trim
        memory.trim()
        return *shown, message

    def restore(edited, model, original, grid, progress):
        memory.trim()
        try:
            result = restore_photo(
                workspace,
                edited,
                model,
                original,
                progress=lambda f, d: progress(f, desc=d),
                grid=grid,
            )
        except RestorableError as exc:
            raise shown_error(exc) from None
        sheet = result.sheet  # a fixed-width picture, not full size
        shown = preview(result.restored), str(result.path), result.message
        del result
        memory.trim()
        return shown[0], shown[1], gr.update(value=sheet, visible=sheet is not None), shown[2]

    with gr.Blocks(
        title="restorable",
        analytics_enabled=False,
        delete_cache=(1800, JOB_MAX_AGE_S),
    ) as app:
        gr.Markdown(
            "# restorable\nEdit a photo so that its 8-bit PNG or JPEG still hides the original, "
            "and restore the original from the edited file alone. Everything runs on this "
            "machine."
        )
        with gr.Tab("Edit", id="edit"):
            with gr.Row():
                with gr.Column(scale=1):
                    photo = gr.File(
                        label="Photo (drop or click to upload)",
                        file_types=["image"],
                        type="filepath",
                        elem_id="edit-photo",
                    )
                    sample = gr.Dropdown(
                        [p.name for p in sample_photos()],
                        value=None,
                        label="or a bundled sample",
                        elem_id="edit-sample",
                    )
                    op = gr.Dropdown(
                        [(f"{o}: {title(o)}", o) for o in ops],
                        value=default_op,
                        label="Operator",
                        elem_id="edit-op",
                    )
                    model = gr.Dropdown(
                        model_options(default_op), value=AUTO, label="Model", elem_id="edit-model"
                    )
                    # model_settings(name) will add a control per setting here
                    fmt = gr.Radio(["PNG", "JPEG"], value="PNG", label="Save as", elem_id="fmt")
                    quality = gr.Slider(
                        50, 100, value=90, step=1, label="JPEG quality", visible=False
                    )
                    apply_btn = gr.Button("Apply", variant="primary", elem_id="apply")
                with gr.Column(scale=2):
                    slider = gr.ImageSlider(
                        label="before | after (drag the handle)",
                        format="png",
                        type="numpy",
                        interactive=False,
                        elem_id="edit-slider",
                    )
                    download = gr.File(label="Restorable file", elem_id="edit-download")
                    status = gr.Markdown(elem_id="edit-status", latex_delimiters=[])
        with gr.Tab("Restore", id="restore"):
            with gr.Row():
                with gr.Column(scale=1):
                    edited = gr.File(
                        label="Edited file (PNG or JPEG made by restorable)",
                        file_types=["image"],
                        type="filepath",
                        elem_id="restore-file",
                    )
                    restore_model = gr.Dropdown(
                        [("from the file's record", AUTO)] + [(m, m) for m in all_models],
                        value=AUTO,
                        label="Model",
                        elem_id="restore-model",
                    )
                    restore_grid = gr.Dropdown(
                        [("found from the pixels", AUTO)]
                        + [(f"{g} (uncropped)" if g == "0,0" else g, g) for g in GRIDS],
                        value=AUTO,
                        label="Grid (rows, columns)",
                        elem_id="restore-grid",
                    )
                    original = gr.File(
                        label="Original photo (optional: for PSNR / SSIM and the sheet)",
                        file_types=["image"],
                        type="filepath",
                        elem_id="restore-original",
                    )
                    restore_btn = gr.Button("Restore", variant="primary", elem_id="restore")
                with gr.Column(scale=2):
                    restored = gr.Image(
                        label="Restored",
                        format="png",
                        type="numpy",
                        interactive=False,
                        elem_id="restore-image",
                    )
                    restored_file = gr.File(label="Restored PNG", elem_id="restore-download")
                    restore_status = gr.Markdown(elem_id="restore-status", latex_delimiters=[])
                    sheet = gr.Image(
                        label="original | edited | restored | error map",
                        format="png",
                        type="numpy",
                        interactive=False,
                        visible=False,
                        elem_id="restore-sheet",
                    )

        sample.change(on_sample, sample, photo)
        op.change(on_op, op, model)
        fmt.change(on_format, fmt, quality)
        heavy = {"concurrency_id": HEAVY, "concurrency_limit": HEAVY_CONCURRENCY}
        apply_btn.click(
            on_apply, [photo, op, model, fmt, quality], [slider, download, status], **heavy
        )
        restore_btn.click(
            on_restore,
            [edited, restore_model, original, restore_grid],
            [restored, restored_file, sheet, restore_status],
            **heavy,
        )
    app.workspace = workspace
    return app
