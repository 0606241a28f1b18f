"""Preprocessing: modality LUT, windowing, MONOCHROME1, resize, normalization and channels."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.uid import JPEG2000Lossless

from axiom.ai.manifest import Manifest
from axiom.ai.preprocess import PreprocessError, preprocess, resize_bilinear, window_to_unit
from tests.factories import jpeg2000_available, make_dataset


def _manifest(**overrides: object) -> Manifest:
    data: dict[str, object] = {
        "name": "m",
        "version": "1",
        "input": {"size": [32, 32], "channels": 3},
        "window": {"center": 1024, "width": 4096},
        "labels": ["a", "b"],
    }
    data.update(overrides)
    return Manifest.model_validate(data)


def test_output_shape_channels_and_range() -> None:
    tensor = preprocess(make_dataset(modality="CT"), _manifest())
    assert tensor.shape == (3, 32, 32) and tensor.dtype == np.float32
    assert np.array_equal(tensor[0], tensor[2])
    assert tensor.min() >= 0.0 and tensor.max() <= 1.0


def test_modality_lut_is_applied_before_the_window() -> None:
    ds = make_dataset(modality="CT")
    dim = preprocess(ds, _manifest()).mean()
    ds.RescaleIntercept = 1024  # +2048 HU on every pixel: the same window sees a brighter image
    bright = preprocess(ds, _manifest()).mean()
    assert bright == pytest.approx(min(1.0, dim + 0.5), abs=0.1)


def test_dataset_window_is_used_when_the_manifest_has_none() -> None:
    ds = make_dataset(modality="CT")
    ds.WindowCenter, ds.WindowWidth = [-5000, 40], [10, 400]  # the first window: all above it
    tensor = preprocess(ds, _manifest(window=None))
    assert tensor.min() == 1.0


def test_monochrome1_is_inverted() -> None:
    ds = make_dataset(modality="CT")
    normal = preprocess(ds, _manifest())
    ds.PhotometricInterpretation = "MONOCHROME1"
    np.testing.assert_allclose(preprocess(ds, _manifest()), 1.0 - normal, atol=1e-6)


def test_normalization_after_windowing() -> None:
    ds = make_dataset(modality="CT")
    raw = preprocess(ds, _manifest())
    normalized = preprocess(ds, _manifest(normalize={"mean": 0.5, "std": 0.25}))
    np.testing.assert_allclose(normalized, (raw - 0.5) / 0.25, atol=1e-5)


@pytest.mark.skipif(not jpeg2000_available(), reason="no JPEG 2000 encoder")
def test_compressed_pixel_data_is_decoded() -> None:
    plain = preprocess(make_dataset(modality="CT"), _manifest())
    compressed = preprocess(make_dataset(modality="CT", transfer_syntax=JPEG2000Lossless), _manifest())
    np.testing.assert_allclose(plain, compressed, atol=1e-6)


def test_no_pixel_data_is_a_preprocess_error() -> None:
    ds = make_dataset(modality="CT")
    del ds.PixelData
    with pytest.raises(PreprocessError):
        preprocess(ds, _manifest())


def test_resize_and_window_helpers() -> None:
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    assert resize_bilinear(image, (4, 4)) is image
    half = resize_bilinear(image, (2, 2))
    np.testing.assert_allclose(half, [[2.5, 4.5], [10.5, 12.5]])
    assert resize_bilinear(image, (8, 3)).shape == (8, 3)
    np.testing.assert_allclose(window_to_unit(np.array([0.0, 5.0, 10.0]), None), [0.0, 0.5, 1.0])


def _bilinear_reference(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Bilinear resize written point by point (pixel centres aligned), to check the vectorized one."""
    in_rows, in_cols = image.shape
    out = np.empty((rows, cols))
    for r in range(rows):
        y = min(max((r + 0.5) * in_rows / rows - 0.5, 0), in_rows - 1)
        y0 = int(y)
        y1, fy = min(y0 + 1, in_rows - 1), y - y0
        for c in range(cols):
            x = min(max((c + 0.5) * in_cols / cols - 0.5, 0), in_cols - 1)
            x0 = int(x)
            x1, fx = min(x0 + 1, in_cols - 1), x - x0
            top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
            bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
            out[r, c] = top * (1 - fy) + bottom * fy
    return out


def test_the_fast_path_matches_pydicoms_modality_lut_and_a_pointwise_bilinear_resize() -> None:
    """The fused rescale+window pass and the separable resize give what the textbook steps give."""
    from pydicom.pixels import apply_modality_lut

    ds = make_dataset(modality="CT", rows=96, columns=80)
    ds.RescaleSlope, ds.RescaleIntercept = 2, -1500
    manifest = _manifest(input={"size": [40, 56], "channels": 1})
    window = manifest.window
    assert window is not None
    hounsfield = apply_modality_lut(ds.pixel_array, ds).astype(np.float64)
    low = window.center - window.width / 2
    unit = np.clip((hounsfield - low) / window.width, 0, 1)
    expected = _bilinear_reference(unit, 40, 56)
    np.testing.assert_allclose(preprocess(ds, manifest)[0], expected, atol=1e-5)
    assert 0.05 < expected.mean() < 0.95  # the window cuts neither everything nor nothing


def _color(photometric: str = "RGB") -> tuple[object, np.ndarray]:
    """A 16x24 8-bit colour ultrasound frame: red rises left to right, green top to bottom, blue 200."""
    ds = make_dataset(modality="US")
    rows, cols = 16, 24
    rgb = np.zeros((rows, cols, 3), dtype=np.uint8)
    rgb[:, :, 0] = np.linspace(0, 255, cols, dtype=np.uint8)[None, :]
    rgb[:, :, 1] = np.linspace(0, 255, rows, dtype=np.uint8)[:, None]
    rgb[:, :, 2] = 200
    stored = rgb
    if photometric == "YBR_FULL":
        from pydicom.pixels import convert_color_space

        stored = convert_color_space(rgb, "RGB", "YBR_FULL")
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, photometric, 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = stored.tobytes()
    for keyword in ("WindowCenter", "WindowWidth", "RescaleIntercept", "RescaleSlope"):
        if keyword in ds:
            delattr(ds, keyword)
    return ds, rgb.astype(np.float32) / 255


@pytest.mark.parametrize("photometric", ["RGB", "YBR_FULL"])
def test_a_colour_image_gives_a_three_channel_model_its_rgb_planes(photometric: str) -> None:
    ds, rgb = _color(photometric)
    tensor = preprocess(ds, _manifest(input={"size": [16, 24], "channels": 3}, window=None))
    assert tensor.shape == (3, 16, 24) and tensor.dtype == np.float32
    # YBR <-> RGB in 8 bits rounds: within 2/255.
    np.testing.assert_allclose(tensor, rgb.transpose(2, 0, 1), atol=2.5 / 255)


def test_a_colour_image_gives_a_one_channel_model_its_luma() -> None:
    ds, rgb = _color()
    tensor = preprocess(ds, _manifest(input={"size": [8, 12], "channels": 1}, window=None))
    luma = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    assert tensor.shape == (1, 8, 12)
    np.testing.assert_allclose(tensor[0], resize_bilinear(luma, (8, 12)), atol=1e-5)
    with pytest.raises(PreprocessError, match="2-channel"):
        preprocess(ds, _manifest(input={"size": [8, 12], "channels": 2}, window=None))
