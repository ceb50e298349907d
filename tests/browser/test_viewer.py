"""The result page's images agree with each other, in a real Chromium (pictures, not only DOM).

One phantom case with its tumour in a known hemisphere is uploaded once; the scenarios then check
the orientation convention (montage and viewer on the same side, both flipping together), the
overlays across sequence changes, and each viewer control, comparing screenshots. Screenshots go
to artifacts/browser/ for review.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import nibabel as nib
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.select import Select

from tests.browser.test_flows import (
    SEQUENCES,
    canvas_image,
    login,
    wait,
    wait_changed,
    wait_for_file,
    wait_rendered,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SAME_PICTURE = 1.5  # mean absolute difference (0-255) under which two canvas pictures match
CENTRED = 0.03  # how far (fraction of the tile's width / height) a centred tumour may lie off
HEAT = 12  # a pixel whose colour moves more than this (0-255, any channel) carries saliency


@pytest.fixture(scope="module")
def tumour_side(phantom_files) -> str:
    """The patient's side of the uploaded phantom's tumour, from its ground truth (RAS+ grid:
    the x index grows towards the patient's right)."""
    seg_path = phantom_files["G"]["flair"].with_name(
        phantom_files["G"]["flair"].name.replace("_flair", "_seg"))
    img = nib.load(seg_path)
    assert nib.aff2axcodes(img.affine) == ("R", "A", "S")
    xs = np.nonzero(np.asarray(img.dataobj) > 0)[0]
    return "right" if xs.mean() > (img.shape[0] - 1) / 2 else "left"


@pytest.fixture(scope="module")
def case_url(browser, live_server, phantom_files) -> Iterator[str]:
    """Log in, upload the G phantom and wait for its result page; yield its URL, then log out
    (the browser is shared with the other browser tests, which start logged out)."""
    browser.delete_all_cookies()
    login(browser, live_server, live_server.clinician, live_server.password)
    browser.get(live_server.url + "/cases/new")
    for seq in SEQUENCES:
        browser.find_element(By.ID, seq).send_keys(str(phantom_files["G"][seq]))
    browser.find_element(By.ID, "upload-submit").click()
    wait(browser, 60).until(EC.url_matches(r"/cases/[0-9a-f]{32}$"))
    url = browser.current_url
    wait(browser, 240).until(EC.visibility_of_element_located((By.ID, "result-class")))
    yield url
    browser.delete_all_cookies()


def screen_side(mask: np.ndarray, extent: np.ndarray) -> str:
    """Which side of the brain (columns where `extent` holds) the `mask` pixels lie on."""
    cols = np.nonzero(mask.any(axis=0))[0]
    brain = np.nonzero(extent.any(axis=0))[0]
    assert cols.size > 3, "the tumour is not visible"
    return "left" if cols.mean() < (brain.min() + brain.max()) / 2 else "right"


def vermillion(image: np.ndarray) -> np.ndarray:
    """Pixels of the enhancing tumour's vermillion in the label map (not the saliency map's
    yellow, not grey)."""
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    return (r - b > 90) & (r - g > 50)


def sky_blue(image: np.ndarray) -> np.ndarray:
    """Pixels of the oedema's sky blue (not the saliency map's dark blue, not grey)."""
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    return (b - r > 80) & (g > 110) & (b > 150)


def reddish_purple(image: np.ndarray) -> np.ndarray:
    """Pixels of the necrotic core's reddish purple."""
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    return (r - g > 30) & (b - g > 12) & (r - b < 70) & (r > 120)


def bluish_green(image: np.ndarray) -> np.ndarray:
    """Pixels of the crosshair's bluish green (no overlay uses it)."""
    r, g, b = image[..., 0].astype(int), image[..., 1].astype(int), image[..., 2].astype(int)
    return (g - r > 90) & (g - b > 20) & (b - r > 50)


def tumour_pixels(image: np.ndarray) -> np.ndarray:
    """Pixels of any sub-region of the label map overlay."""
    return vermillion(image) | sky_blue(image) | reddish_purple(image)


def viewer_tumour_side(image: np.ndarray) -> str:
    """Side of the vermillion tumour overlay in a single-tile (axial) viewer picture."""
    return screen_side(vermillion(image), image.max(axis=-1) > 30)


def montage_tumour_side(browser) -> str:
    """Side of the orange contour in the montage's first (FLAIR) panel, as shown on the page."""
    img = browser.find_element(By.ID, "montage")
    wait(browser).until(lambda b: b.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth > 0", img))
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", img)
    pixels = np.asarray(Image.open(io.BytesIO(img.screenshot_as_png)).convert("RGB"), np.float32)
    first = pixels[:, : pixels.shape[1] // 4 - 2]
    r, g, b = first[..., 0], first[..., 1], first[..., 2]
    orange = (r > 180) & (g > 110) & (g < 200) & (b < 80)
    return screen_side(orange, first.max(axis=-1) > 30)


def show_axial(browser) -> np.ndarray:
    viewer = browser.find_element(By.ID, "viewer")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", viewer)
    before = canvas_image(browser)
    Select(browser.find_element(By.ID, "view-mode")).select_by_value("axial")
    wait_changed(browser, before, "the axial view mode")
    return settle(browser)


def settle(browser, timeout: float = 30) -> np.ndarray:
    """Wait until two consecutive canvas pictures agree (rendering finished); return the picture."""
    deadline = time.monotonic() + timeout
    last = canvas_image(browser)
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = canvas_image(browser)
        if now.shape == last.shape and np.abs(now - last).mean() < 0.2:
            return now
        last = now
    raise AssertionError("the viewer kept changing")


def changed_view(browser, before: np.ndarray, what: str) -> np.ndarray:
    """Bring the viewer back into view (operating a control may scroll the page), wait until its
    picture differs from `before` and settles; return the new picture."""
    viewer = browser.find_element(By.ID, "viewer")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", viewer)
    wait_changed(browser, before, what)
    return settle(browser)


def set_orientation(browser, value: str) -> None:
    Select(browser.find_element(By.ID, "orientation")).select_by_value(value)


def test_montage_and_viewer_show_the_tumour_on_the_same_side(browser, case_url, tumour_side,
                                                            shot):
    browser.get(case_url)
    wait_rendered(browser, 180)
    set_orientation(browser, "radiological")
    image = show_axial(browser)
    # Radiological convention: the patient's right hemisphere on the screen's left.
    expected = "left" if tumour_side == "right" else "right"
    assert viewer_tumour_side(image) == expected
    assert montage_tumour_side(browser) == expected
    shot("radiological")

    set_orientation(browser, "neurological")
    flipped = changed_view(browser, image, "the orientation toggle")
    other = "right" if expected == "left" else "left"
    assert viewer_tumour_side(flipped) == other
    src = browser.find_element(By.ID, "montage").get_attribute("src")
    assert src.endswith("montage_neurological.png")
    assert montage_tumour_side(browser) == other
    assert browser.find_element(By.ID, "gradcam").get_attribute("src").endswith(
        "gradcam_neurological.png")
    shot("neurological")
    set_orientation(browser, "radiological")
    changed_view(browser, flipped, "the orientation toggle back")


def test_overlays_survive_flair_t1_flair(browser, case_url, shot):
    browser.get(case_url)
    wait_rendered(browser, 180)
    first = show_axial(browser)
    shot("flair-first")
    sequence = Select(browser.find_element(By.ID, "sequence"))
    sequence.select_by_value("t1")
    wait_changed(browser, first, "switching to T1", timeout=60)
    wait(browser, 60).until(lambda b: b.find_element(By.ID, "viewer").get_attribute(
        "data-ready") == "true")
    settle(browser)
    assert browser.find_element(By.ID, "viewer-sequence").text == "T1"
    shot("t1")
    sequence.select_by_value("flair")
    wait(browser, 60).until(lambda b: b.find_element(By.ID, "viewer-sequence").text == "FLAIR")
    wait(browser, 60).until(lambda b: b.find_element(By.ID, "viewer").get_attribute(
        "data-ready") == "true")
    again = settle(browser)
    shot("flair-again")
    diff = float(np.abs(again - first).mean())
    assert diff < SAME_PICTURE, f"FLAIR -> T1 -> FLAIR changed the picture (mean diff {diff:.2f})"


def test_slice_controls_keyboard_and_readouts(browser, case_url, shot):
    browser.get(case_url)
    wait_rendered(browser, 180)
    image = show_axial(browser)
    for control in ("azimuth", "elevation", "auto-rotate"):
        assert not browser.find_element(By.ID, control).is_enabled(), control
    label = browser.find_element(By.ID, "slice-value")
    start = label.text
    assert start.startswith("axial ")
    canvas = browser.find_element(By.ID, "viewer")
    canvas.click()  # focus (and put the crosshair somewhere on the slice)
    image = settle(browser)
    y_before = browser.execute_script("return window.scrollY")
    canvas.send_keys(Keys.PAGE_UP)
    wait_changed(browser, image, "Page Up")
    image = settle(browser)
    after_page = label.text
    assert after_page != start
    canvas.send_keys(Keys.ARROW_DOWN)
    wait_changed(browser, image, "the down arrow")
    assert label.text != after_page
    assert browser.execute_script("return window.scrollY") == y_before  # the page did not scroll
    browser.execute_script("""
        const c = arguments[0]; const r = c.getBoundingClientRect();
        c.dispatchEvent(new MouseEvent('mousemove', {
            clientX: r.left + r.width / 2, clientY: r.top + r.height / 2, bubbles: true}));
    """, canvas)
    pointer = browser.find_element(By.ID, "pointer-value").text
    assert pointer.startswith("FLAIR ") and "voxel (" in pointer
    slider = browser.find_element(By.ID, "slice")
    image = settle(browser)
    slider.send_keys(Keys.HOME)
    wait_changed(browser, image, "the slice slider")
    assert label.text.startswith("axial 0 /")
    shot()

    Select(browser.find_element(By.ID, "view-mode")).select_by_value("render")
    wait(browser).until(lambda b: b.find_element(By.ID, "azimuth").is_enabled())
    browser.find_element(By.ID, "auto-rotate").click()
    readout = browser.find_element(By.ID, "azimuth-value")
    first = readout.text
    wait(browser).until(lambda _: readout.text != first)
    browser.find_element(By.ID, "auto-rotate").click()


def test_outline_zoom_and_saved_image(browser, case_url, downloads, shot):
    browser.get(case_url)
    wait_rendered(browser, 180)
    image = show_axial(browser)
    filled = tumour_pixels(image).sum()
    browser.find_element(By.ID, "segmentation-outline").click()
    outlined = changed_view(browser, image, "the outline option")
    shot("outline")
    assert 0 < tumour_pixels(outlined).sum() < filled * 0.5
    before = outlined
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});",
                           browser.find_element(By.ID, "size"))
    browser.find_element(By.ID, "size").send_keys(Keys.END)
    zoomed = changed_view(browser, before, "zoom")
    viewer_tumour_side(zoomed)  # the tumour is still in view after zooming in
    shot("zoomed")

    for old in downloads.glob("gliomalens-*.png"):
        old.unlink()
    browser.find_element(By.ID, "save-image").click()
    saved = wait_for_file(downloads, "gliomalens-*.png")
    with Image.open(saved) as png:
        pixels = np.asarray(png.convert("RGB"))
    canvas = browser.find_element(By.ID, "viewer")
    width = browser.execute_script("return arguments[0].width", canvas)
    height = browser.execute_script("return arguments[0].height", canvas)
    assert pixels.shape[1] == width and pixels.shape[0] > height  # a band of annotations below
    band = pixels[height:]
    assert (band > 200).all(axis=-1).sum() > 100  # the case, sequence and convention text
    assert ((band[..., 0] > 200) & (band[..., 2] < 150)).sum() > 50  # the yellow disclaimer
    Image.fromarray(pixels).save(shot("saved").with_name("saved-view.png"))


def test_laptop_screen_shows_the_class_and_the_viewer_without_scrolling(browser, case_url,
                                                                         shot):
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 1366, "height": 768, "deviceScaleFactor": 1, "mobile": False})
    try:
        browser.get(case_url)
        wait_rendered(browser, 180)
        inner = browser.execute_script("return window.innerHeight")
        for element_id in ("result-class", "viewer", "slice"):  # the whole canvas and its slider
            box = browser.execute_script(
                "const r = arguments[0].getBoundingClientRect(); return [r.top, r.bottom];",
                browser.find_element(By.ID, element_id))
            assert 0 <= box[0] and box[1] <= inner, f"#{element_id} spans {box} of {inner}px"
        shot()
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def tumour_centroid(image: np.ndarray) -> np.ndarray:
    """(x, y) centre of the label map's pixels as fractions of the picture's width and height.

    An opening keeps thin lines (the crosshair, the outline mode) out of it.
    """
    mask = ndimage.binary_opening(tumour_pixels(image), structure=np.ones((5, 5)))
    ys, xs = np.nonzero(mask)
    assert xs.size > 50, "the tumour is not visible"
    return np.array([xs.mean() / image.shape[1], ys.mean() / image.shape[0]])


def set_zoom(browser, value: float) -> None:
    """Move the zoom slider to `value` as its input event reports it (a drag's end point)."""
    browser.execute_script(
        "const el = arguments[0]; el.value = arguments[1];"
        "el.dispatchEvent(new Event('input', {bubbles: true}));",
        browser.find_element(By.ID, "size"), str(value))


def test_zooming_in_centres_the_tumour(browser, case_url, shot):
    browser.get(case_url)
    wait_rendered(browser, 180)
    image = show_axial(browser)  # one tile: the canvas is the tile
    start = tumour_centroid(image)
    # The phantom's tumour lies in one hemisphere: off the centre, or this test proves nothing.
    assert np.abs(start - 0.5).max() > 2 * CENTRED, f"tumour at {start}: already centred"
    size = tumour_pixels(image).sum()
    # The crosshair has its own colour: its lines cross the whole tile, none of it oedema blue.
    height, width = image.shape[:2]
    crosshair = bluish_green(image)
    assert (crosshair.sum(axis=1) > 0.6 * width).any(), "no horizontal crosshair line"
    assert (crosshair.sum(axis=0) > 0.6 * height).any(), "no vertical crosshair line"
    assert not (sky_blue(image).sum(axis=1) > 0.6 * width).any(), "an oedema-blue line"
    for zoom in (1.5, 2.5):
        set_zoom(browser, zoom)
        image = changed_view(browser, image, f"zoom {zoom}")
        centre = tumour_centroid(image)
        assert np.abs(centre - 0.5).max() < CENTRED, f"zoom {zoom}: tumour at {centre}"
        assert tumour_pixels(image).sum() > size * 1.5  # it was magnified
        size = tumour_pixels(image).sum()
        shot(f"zoom-{zoom}")
    set_zoom(browser, 1)  # 100% frames the whole image again, as on arrival
    image = changed_view(browser, image, "zoom 100%")
    assert np.abs(tumour_centroid(image) - start).max() < CENTRED / 2


def brain_region(base: np.ndarray) -> np.ndarray:
    """Pixels of the brain in a picture of the base volume alone (filled, grown by 3 pixels so
    the edge's interpolation counts as brain)."""
    inside = ndimage.binary_fill_holes(ndimage.binary_opening(base.max(axis=-1) > 6,
                                                              structure=np.ones((3, 3))))
    return ndimage.binary_dilation(inside, iterations=3)


def heat_pixels(image: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Pixels where `image` differs from the picture of the base volume alone."""
    return np.abs(image - base).max(axis=-1) > HEAT


def toggle(browser, element_id: str, before: np.ndarray, what: str) -> np.ndarray:
    """Click a viewer checkbox; return the settled picture after it changed."""
    box = browser.find_element(By.ID, element_id)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
    box.click()
    return changed_view(browser, before, what)


def test_saliency_stays_inside_the_brain(browser, case_url, shot):
    browser.get(case_url)
    wait_rendered(browser, 180)
    image = show_axial(browser)  # the classified slice, where the saliency map lies
    assert browser.find_element(By.ID, "heatmap-brain").is_selected()  # restricted by default
    heat = toggle(browser, "toggle-segmentation", image, "hiding the tumour")
    shot("saliency")
    base = toggle(browser, "toggle-heatmap", heat, "hiding the saliency")
    brain = brain_region(base)
    assert 0.05 < brain.mean() < 0.9, "no brain found in the picture"
    shown = heat_pixels(heat, base)
    assert shown[brain].sum() > 500, "no saliency shown inside the brain"
    assert shown[~brain].sum() == 0, f"{shown[~brain].sum()} saliency pixels outside the brain"

    # The viewer's own restriction, for a map that is not cut to the brain (a heatmap written
    # before the pipeline did so): heat on the whole slice, outside the head too.
    browser.execute_script("""
        const nv = window.gliomaViewer.nv;
        const heat = nv.volumes.find((v) => v.colormap === 'gl_heat');
        const [, nx, ny] = heat.hdr.dims;
        const k = Number(document.getElementById('viewer-panel').dataset.sliceIndex);
        heat.img.fill(0.8, nx * ny * k, nx * ny * (k + 1));
    """)
    unmasked = toggle(browser, "toggle-heatmap", base, "showing the whole-slice saliency")
    shot("whole-slice-inside-brain")
    shown = heat_pixels(unmasked, base)
    assert shown[brain].mean() > 0.9, "the whole-slice heat does not cover the brain"
    assert shown[~brain].sum() == 0, "'Only inside the brain' let saliency out of the brain"
    everywhere = toggle(browser, "heatmap-brain", unmasked, "'Only inside the brain' off")
    shot("whole-slice-everywhere")
    assert heat_pixels(everywhere, base)[~brain].mean() > 0.3, "heat outside the brain not shown"
