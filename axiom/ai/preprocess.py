"""Pixel data to model input with numpy: modality LUT, windowing, resize, normalization, channels.

Kept apart from inference so its cost is measured on its own (bench/ai_batching.py): on a GPU the
CPU-side preprocessing, not the model, is what usually limits throughput.
"""

from __future__ import annotations

import numpy as np
from pydicom import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_modality_lut

from axiom.ai.manifest import Manifest, Window


class PreprocessError(ValueError):
    """The instance has no usable single-frame image for this model."""


def _first(value: object) -> object:
    return value[0] if isinstance(value, MultiValue | list | tuple) else value


def dataset_window(ds: Dataset) -> Window | None:
    """The dataset's own VOI window (the first, when several are given), if it has a usable one."""
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is None or width is None:
        return None
    try:
        c, w = float(_first(center)), float(_first(width))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return Window(center=c, width=w) if w > 0 else None


def window_to_unit(values: np.ndarray, window: Window | None) -> np.ndarray:
    """Linear window (DICOM PS3.3 C.11.2.1.2 simplified) to 0..1; without a window, min-max."""
    if window is None:
        low, high = float(values.min()), float(values.max())
    else:
        low, high = window.center - window.width / 2, window.center + window.width / 2
    span = high - low or 1.0
    return np.clip((values - low) / span, 0.0, 1.0, dtype=np.float32)


def resize_bilinear(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a 2-D float array to (rows, columns), with pixel centres aligned."""
    rows, cols = size
    in_rows, in_cols = image.shape
    if (in_rows, in_cols) == (rows, cols):
        return image
    y = np.clip((np.arange(rows, dtype=np.float32) + 0.5) * (in_rows / rows) - 0.5, 0, in_rows - 1)
    x = np.clip((np.arange(cols, dtype=np.float32) + 0.5) * (in_cols / cols) - 0.5, 0, in_cols - 1)
    y0 = np.floor(y).astype(np.intp)
    x0 = np.floor(x).astype(np.intp)
    y1 = np.minimum(y0 + 1, in_rows - 1)
    x1 = np.minimum(x0 + 1, in_cols - 1)
    wy = (y - y0)[:, None]
    wx = (x - x0)[None, :]
    # Separable: blend whole rows first (contiguous gathers), then columns of the smaller result.
    source = np.asarray(image, dtype=np.float32)
    upper, lower = source[y0], source[y1]
    rows_blended = upper + (lower - upper) * wy
    left, right = rows_blended[:, x0], rows_blended[:, x1]
    return left + (right - left) * wx


def _to_unit(pixels: np.ndarray, ds: Dataset, window: Window | None) -> np.ndarray:
    """Modality LUT then window, to 0..1. A rescale (slope, intercept) and a linear window are one
    affine map, applied in one float32 pass; a Modality LUT Sequence goes through pydicom."""
    if "ModalityLUTSequence" in ds or window is None:
        return window_to_unit(np.asarray(apply_modality_lut(pixels, ds), dtype=np.float32), window)
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    low = window.center - window.width / 2
    scale = slope / window.width
    offset = (intercept - low) / window.width
    unit = pixels.astype(np.float32)
    unit *= np.float32(scale)
    unit += np.float32(offset)
    return np.clip(unit, 0.0, 1.0, out=unit)


# ITU-R BT.601 luma weights: a colour image for a one-channel model.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def color_to_unit(pixels: np.ndarray, ds: Dataset) -> np.ndarray:
    """A colour image (rows, columns, 3) to RGB in 0..1 by its bit depth (no VOI window applies)."""
    photometric = str(ds.get("PhotometricInterpretation", ""))
    # pydicom's pixel_array already converts YBR (native or JPEG) to RGB.
    if photometric != "RGB" and not photometric.startswith("YBR"):
        raise PreprocessError(f"unsupported colour photometric interpretation {photometric!r}")
    top = float(2 ** int(ds.get("BitsStored", 8) or 8) - 1)
    return np.clip(pixels.astype(np.float32) / np.float32(top), 0.0, 1.0)


def preprocess(ds: Dataset, manifest: Manifest) -> np.ndarray:
    """One float32 input shaped (channels, rows, columns) for ``manifest``'s model.

    Greyscale goes through the modality LUT and a window; colour (RGB, or YBR converted to RGB) is
    scaled by its bit depth. A one-channel model gets a colour image's luma; a three-channel model
    gets its RGB planes (or the greyscale plane three times); the middle frame stands for a
    multi-frame image.
    """
    try:
        pixels = ds.pixel_array
    except Exception as exc:
        raise PreprocessError(f"pixel data could not be decoded: {type(exc).__name__}") from exc
    color = int(ds.get("SamplesPerPixel", 1) or 1) == 3
    if int(ds.get("NumberOfFrames", 1) or 1) > 1 and pixels.ndim == (4 if color else 3):
        pixels = pixels[pixels.shape[0] // 2]
    if color and pixels.ndim == 3 and pixels.shape[-1] == 3:
        rgb = color_to_unit(pixels, ds)
        if manifest.input.channels == 1:
            planes = [rgb @ _LUMA]
        elif manifest.input.channels == 3:
            planes = [rgb[:, :, channel] for channel in range(3)]
        else:
            raise PreprocessError(f"a colour image for a {manifest.input.channels}-channel model")
        resized = np.stack([resize_bilinear(plane, manifest.input.size) for plane in planes])
        return ((resized - manifest.normalize.mean) / manifest.normalize.std).astype(np.float32)
    if pixels.ndim != 2:
        raise PreprocessError(f"expected a greyscale or RGB image, got pixel array of shape {pixels.shape}")
    unit = _to_unit(pixels, ds, manifest.window or dataset_window(ds))
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        unit = 1.0 - unit
    image = resize_bilinear(unit, manifest.input.size)
    image = (image - manifest.normalize.mean) / manifest.normalize.std
    return np.repeat(image[None, :, :], manifest.input.channels, axis=0).astype(np.float32)
