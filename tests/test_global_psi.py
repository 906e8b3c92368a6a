"""The whole-photo ψ candidates: tiles read the same thumbnail and agree with one pass.

The property that makes a global ψ usable at apply time: a photo processed tile by tile (each
tile given the photo's thumbnail, computed once, and its own box) gives the same pixels as one
pass over the whole photo, and nothing but the thumbnail carries whole-photo information.
"""

import pytest
import torch

from restorable.network.global_psi import (
    CANDIDATES,
    BilateralGrid,
    FilmPsi,
    GridFilmPsi,
    GridPsi,
    LocalPsi,
    crop_coords,
    slice_grid,
    thumbnail,
    whole_box,
)


def _randomise(model: torch.nn.Module) -> None:
    """Non-trivial weights everywhere (the identity init would hide slicing errors)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)


def _photo(h: int = 64, w: int = 96) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    base = torch.rand(1, 3, h // 8, w // 8, generator=g)
    return torch.nn.functional.interpolate(base, size=(h, w), mode="bilinear").clamp(0, 1)


def _tile_box(y0, x0, th, tw, h, w) -> torch.Tensor:
    return torch.tensor([[y0 / h, x0 / w, th / h, tw / w]])


def test_grid_psi_tiles_equal_one_pass_exactly():
    """Per pixel apart from the thumbnail: any tile, at any offset, matches one pass."""
    torch.manual_seed(0)
    model = GridPsi()
    _randomise(model)
    photo = _photo()
    thumb = thumbnail(photo)
    with torch.no_grad():
        whole = model(photo, thumb, whole_box(1))
        for y0, x0, th, tw in [(0, 0, 32, 48), (13, 37, 29, 41), (40, 80, 24, 16)]:
            tile = model(
                photo[..., y0 : y0 + th, x0 : x0 + tw],
                thumb,
                _tile_box(y0, x0, th, tw, *photo.shape[-2:]),
            )
            torch.testing.assert_close(
                tile, whole[..., y0 : y0 + th, x0 : x0 + tw], atol=1e-5, rtol=1e-5
            )
    assert whole.shape == photo.shape


@pytest.mark.parametrize("cls", [FilmPsi, GridFilmPsi])
def test_cnn_candidates_tiles_equal_one_pass_inside_the_halo(cls):
    """The CNN candidates are local around a global vector: a tile at a multiple-of-8 offset
    (Haar and two stride-2 levels), with a halo beyond their receptive field, matches one pass
    in its interior. A small body keeps the receptive field (and the test) small."""
    torch.manual_seed(0)
    model = cls()
    model.net = LocalPsi(
        8,
        dilations=(1,),
        film=model.net.film.in_features,
        extra=(model.net.inc.in_channels - 12) // 4,
    )
    _randomise(model)
    photo = _photo(96, 192)
    thumb = thumbnail(photo)
    h, w = photo.shape[-2:]
    x0, halo = 64, 64  # the tile runs to the photo's right edge: a halo on its left only
    with torch.no_grad():
        whole = model(photo, thumb, whole_box(1))
        tile = model(photo[..., x0:], thumb, _tile_box(0, x0, h, w - x0, h, w))
    torch.testing.assert_close(tile[..., halo:], whole[..., x0 + halo :], atol=1e-5, rtol=1e-5)
    assert (tile[..., :8] - whole[..., x0 : x0 + 8]).abs().max() > 1e-4  # the halo is needed


def test_thumbnail_is_the_only_whole_photo_input():
    """Pixels outside a region reach its output only through the thumbnail: for the per-pixel
    grid, changing them leaves the region unchanged while the thumbnail is held; every global
    candidate's output changes when the thumbnail does, the local baseline's never."""
    torch.manual_seed(0)
    photo = _photo(64, 96)
    other = photo.clone()
    other[..., :, 48:] = 1 - other[..., :, 48:]  # change only what lies outside the tile
    box = _tile_box(0, 0, 64, 48, 64, 96)
    tile = photo[..., :, :48]
    grid = GridPsi()
    _randomise(grid)
    with torch.no_grad():
        a = grid(photo, thumbnail(photo), whole_box(1))[..., :48]
        b = grid(other, thumbnail(photo), whole_box(1))[..., :48]
    torch.testing.assert_close(a, b)
    for name, cls in CANDIDATES.items():
        model = cls()
        _randomise(model)
        with torch.no_grad():
            a = model(tile, thumbnail(photo), box)
            c = model(tile, thumbnail(other), box)
        if name == "local":
            torch.testing.assert_close(a, c)
        else:
            assert (a - c).abs().max() > 1e-4, name


def test_slice_reads_the_grid_cell_under_the_crop():
    """A grid whose value is its x cell index: slicing a tile at the photo's right edge reads
    the right-most cells, whatever the guide (so tiles read their own part of the grid)."""
    cells = 4
    grid = (
        torch.arange(cells, dtype=torch.float32).view(1, 1, 1, 1, cells).expand(1, 1, 2, 1, cells)
    )
    guide = torch.rand(1, 1, 8, 8)
    right = slice_grid(grid, guide, torch.tensor([[0.0, 0.75, 1.0, 0.25]]))
    assert right.min() >= 2.5 and right.max() <= 3.0
    y, x = crop_coords(whole_box(1), 2, 4)
    torch.testing.assert_close(x, torch.tensor([[-0.75, -0.25, 0.25, 0.75]]))


def test_bilateral_grid_starts_at_identity():
    """Training starts from f ≈ identity: the initial grid is the identity transform."""
    torch.manual_seed(0)
    model = GridPsi()
    photo = _photo()
    with torch.no_grad():
        out = model(photo, thumbnail(photo), whole_box(1))
    assert (out - photo).abs().max() < 0.05
    assert BilateralGrid()(thumbnail(photo)).shape == (1, 12, 8, 16, 16)
