// GliomaLens 3D viewer: one small wrapper around NiiVue, shared by the home and result pages.
//
// The markup (canvas + labelled controls) comes from templates/_viewer.html; this module wires
// each control to NiiVue. Usage:
//   const viewer = await createViewer(panel, { base: {url, name}, overlays: [...], viewMode: 'render' });
//   await viewer.setBase({ url, name });   // switch the displayed sequence
//   viewer.snapshot();                     // PNG data URL of the current view (for tests)
// NiiVue is served from static/vendor/niivue/ (copied from npm by scripts/build_static.sh).

import { Niivue, NVImage, SLICE_TYPE, SHOW_RENDER, MULTIPLANAR_TYPE } from '../vendor/niivue/index.js';
import { saliencyColormap, saliencyGradient } from './colormaps.js';
import { initialConvention } from './orientation.js';

const VIEW_MODES = {
  render: SLICE_TYPE.RENDER,
  multiplanar: SLICE_TYPE.MULTIPLANAR,
  axial: SLICE_TYPE.AXIAL,
  coronal: SLICE_TYPE.CORONAL,
  sagittal: SLICE_TYPE.SAGITTAL,
};

// Colour-blind-safe overlay colours: the tumour candidate in Okabe-Ito vermillion, the saliency
// heatmap in the one saliency map of the app (colormaps.js, the same as the Grad-CAM PNG).
const COLORMAPS = {
  gl_mask: { R: [213, 213], G: [94, 94], B: [0, 0], A: [0, 255], I: [0, 255] },
  gl_heat: saliencyColormap(),
};

// Fixed display ranges: the mask is 0/1; saliency is stored in [0, 1] (0 none, 1 strongest) and
// always shown over that range, so its colours mean the same on every case and every base volume.
export const OVERLAY_STYLES = {
  mask: { colormap: 'gl_mask', opacity: 0.7, cal_min: 0.5, cal_max: 1 },
  heatmap: { colormap: 'gl_heat', opacity: 0.6, cal_min: 0, cal_max: 1 },
  // The BraTS label map: a discrete lookup table (one colour per label value, from the page's
  // legend: app/cases/findings.py), so cal_min / cal_max do not apply.
  segmentation: { colormap: 'gl_mask', opacity: 0.7, cal_min: 0.5, cal_max: 4, labels: true },
};
/** Overlays that outline the tumour: drawn on top; the crosshair and the zoom centre on them. */
const TUMOUR_KEYS = ['segmentation', 'mask'];
const TWO_D = new Set(['axial', 'coronal', 'sagittal']);
const AXIS = { axial: 2, coronal: 1, sagittal: 0 }; // RAS voxel axis each 2D mode pages through
const AXIS_NAME = ['sagittal', 'coronal', 'axial'];

const $ = (root, sel) => root.querySelector(sel);

/** Layer position of a volume: the base first, then the heatmap, then the tumour. */
function zOrder(volume, overlays) {
  if (TUMOUR_KEYS.some((key) => overlays.get(key)?.volume === volume)) return 2;
  if (overlays.get('heatmap')?.volume === volume) return 1;
  return 0;
}

function fmt(value) {
  const abs = Math.abs(value);
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(abs >= 1 ? 2 : 3);
}

function setOutput(root, id, text) {
  const out = $(root, `#${id}-value`);
  if (out) out.textContent = text;
}

/**
 * Create the viewer inside `panel` (the <section id="viewer-panel"> of the _viewer.html macro).
 * options.base: {url, name} of the grey volume; options.overlays: [{key, url, name}] (key 'mask',
 * 'segmentation' or 'heatmap'); options.viewMode; options.sliceIndex: axial index in the canonical (RAS+) grid
 * to put the crosshair on; options.saveName: file name of the saved PNG.
 */
export async function createViewer(panel, options = {}) {
  const canvas = $(panel, '#viewer');
  const frame = $(panel, '#viewer-frame');
  const status = $(panel, '#viewer-status');
  const say = (text) => { if (status) status.textContent = text; };
  const saveName = options.saveName || panel.dataset.saveName || 'gliomalens-view.png';

  let convention = initialConvention();
  const nv = new Niivue({
    backColor: [0, 0, 0, 1],
    isRadiologicalConvention: convention === 'radiological',
    showAllOrientationMarkers: true, // R and L (and A/P, S/I) on every 2D tile
    // Okabe-Ito bluish green: no sub-region (vermillion, sky blue, reddish purple) and no
    // saliency colour (cividis) uses it, so the crosshair never hides in an overlay.
    crosshairColor: [0.0, 0.62, 0.45, 1],
    crosshairWidth: 1,
    show3Dcrosshair: options.sliceIndex !== null && options.sliceIndex !== undefined,
    isResizeCanvas: true,
    isColorbar: false,
    dragAndDropEnabled: false,
    multiplanarShowRender: SHOW_RENDER.ALWAYS,
    multiplanarLayout: MULTIPLANAR_TYPE.GRID, // 2 × 2: larger tiles than a row of four
    loadingText: 'loading...', // NiiVue's bitmap font has no ellipsis glyph
    logLevel: 'warn',
    fontSizeScaling: 0.6, // larger orientation letters,
    fontColor: [1, 1, 1, 1], // in white, readable on the black background
  });
  await nv.attachToCanvas(canvas);
  // Saliency only inside the brain (overlays hidden where the base volume is empty), set before
  // the first texture build so it costs nothing at start.
  nv.backgroundMasksOverlays = $(panel, '#heatmap-brain')?.checked ? 1 : 0;
  for (const [name, cmap] of Object.entries(COLORMAPS)) nv.addColormap(name, cmap);

  const overlays = new Map(); // key -> {volume, visible, opacity}
  let calDefaults = null;

  // --- loading -------------------------------------------------------------------------------
  // The base and all overlays are fetched in parallel and handed to NiiVue at once: every volume
  // change makes NiiVue rebuild its textures, which takes seconds with software WebGL. Overlays
  // are loaded once and kept (with their fixed ranges) when the base volume changes.
  const specs = (options.overlays || []).map((spec) => {
    const style = OVERLAY_STYLES[spec.key] || OVERLAY_STYLES.heatmap;
    const slider = $(panel, `#${spec.key}-opacity`);
    const toggle = $(panel, `#toggle-${spec.key}`);
    const opacity = slider ? Number(slider.value) : style.opacity;
    const visible = toggle ? toggle.checked : true;
    return {
      spec,
      style,
      entry: { opacity, visible },
      load: { url: spec.url, name: spec.name, colormap: style.colormap, opacity: visible ? opacity : 0,
              cal_min: style.cal_min, cal_max: style.cal_max },
    };
  });
  function markUnavailable(s) {
    s.failed = true;
    overlays.delete(s.spec.key);
    const control = $(panel, `#overlay-${s.spec.key}`);
    if (!control) return;
    control.classList.add('unavailable');
    control.querySelectorAll('input').forEach((el) => { el.disabled = true; });
    const note = document.createElement('p');
    note.className = 'hint';
    note.textContent = 'Not available for this case.';
    control.append(note);
  }

  // The label map's sub-regions (the legend's checkboxes): value, colour, name, shown or not.
  const segmentInputs = Array.from(panel.querySelectorAll('input[data-label-value]'));
  const segments = segmentInputs.map((el) => ({
    value: Number(el.dataset.labelValue), colour: el.dataset.colour, name: el.dataset.name, input: el,
  }));

  /** NiiVue label lookup table of the sub-regions; hidden ones (and 0) are transparent. */
  function segmentLut() {
    const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    const lut = { R: [0], G: [0], B: [0], A: [0], I: [0], labels: ['background'] };
    for (const seg of segments) {
      const [r, g, b] = rgb(seg.colour);
      lut.R.push(r); lut.G.push(g); lut.B.push(b);
      lut.A.push(seg.input.checked ? 255 : 0);
      lut.I.push(seg.value);
      lut.labels.push(seg.name);
    }
    return lut;
  }

  /** Fix an overlay's display range (a legacy 0-255 heatmap keeps its meaning: 255 = 1). */
  function fixRange(s, volume) {
    if (s.style.labels) {
      volume.setColormapLabel(segmentLut());
      return;
    }
    const legacy = s.spec.key === 'heatmap' && volume.global_max > 1.5;
    const scale = legacy ? 255 : 1;
    volume.cal_min = s.style.cal_min * scale;
    volume.cal_max = s.style.cal_max * scale;
  }

  function install(back) {
    const volumes = [back, ...Array.from(overlays.values()).map((e) => e.volume)];
    // Draw order: the heatmap below, the tumour candidate on top, so the mask stays easy to see.
    volumes.sort((a, b) => zOrder(a, overlays) - zOrder(b, overlays));
    nv.volumes = volumes;
    nv.back = back;
    nv.overlays = volumes.slice(1);
    nv.updateGLVolume();
  }

  async function loadAll(base) {
    const baseLoad = { url: base.url, name: base.name, colormap: 'gray', opacity: 1 };
    const [back, ...layers] = await Promise.all([
      NVImage.loadFromUrl(baseLoad),
      ...specs.map((s) => NVImage.loadFromUrl({ ...s.load }).catch((err) => {
        console.warn(`GliomaLens viewer: overlay ${s.spec.key} not loaded`, err);
        markUnavailable(s);
        return null;
      })),
    ]);
    specs.forEach((s, i) => {
      if (!layers[i]) return;
      fixRange(s, layers[i]);
      s.entry.volume = layers[i];
      overlays.set(s.spec.key, s.entry);
    });
    install(back);
  }

  /** Replace only the base volume; the overlays (their data, ranges, opacity) stay as they are. */
  async function loadBase(base) {
    const back = await NVImage.loadFromUrl({ url: base.url, name: base.name, colormap: 'gray',
                                              opacity: nv.volumes[0]?.opacity ?? 1 });
    install(back);
  }
  await loadAll(options.base);
  let baseLabel = options.base.label || panel.dataset.baseLabel || options.base.name;
  rememberContrast();
  // Filled voxels of each tumour overlay, kept while an outline replaces them on screen.
  const fills = new Map(TUMOUR_KEYS.filter((key) => overlays.get(key))
    .map((key) => [key, overlays.get(key).volume.img]));
  const outlines = new Map();

  // --- state helpers -------------------------------------------------------------------------
  function rememberContrast() {
    const vol = nv.volumes[0];
    calDefaults = { min: vol.cal_min, max: vol.cal_max };
    const lo = Math.min(vol.global_min, vol.cal_min);
    const hi = Math.max(vol.global_max, vol.cal_max);
    const step = (hi - lo) / 400 || 'any';
    for (const id of ['contrast-min', 'contrast-max']) {
      const el = $(panel, `#${id}`);
      if (!el) continue;
      el.min = String(lo);
      el.max = String(hi);
      el.step = String(step);
    }
    showContrast();
  }

  function showContrast() {
    const vol = nv.volumes[0];
    const min = $(panel, '#contrast-min');
    const max = $(panel, '#contrast-max');
    if (min) min.value = String(vol.cal_min);
    if (max) max.value = String(vol.cal_max);
    setOutput(panel, 'contrast-min', fmt(vol.cal_min));
    setOutput(panel, 'contrast-max', fmt(vol.cal_max));
  }

  function applyOverlay(key) {
    const entry = overlays.get(key);
    if (!entry) return;
    const index = nv.volumes.indexOf(entry.volume);
    if (index > 0) nv.setOpacity(index, entry.visible ? entry.opacity : 0);
  }

  /** Centre of the tumour candidate in mm (null without a mask): zooming in centres it. */
  let tumourMM = null;

  /** Put the crosshair on axial slice `k` of the canonical grid, at the tumour's centre when known. */
  function focusSlice(k) {
    if (k === null || k === undefined || Number.isNaN(k)) return;
    const maskEntry = TUMOUR_KEYS.map((key) => overlays.get(key)).find(Boolean);
    // The tumour overlay is written by the pipeline on the canonical RAS+ grid, so its RAS voxel
    // grid is the grid the slice index refers to; without one, use the base volume's RAS grid.
    const vol = maskEntry ? maskEntry.volume : nv.volumes[0];
    const [, nx, ny, nz] = vol.dimsRAS;
    const z = Math.max(0, Math.min(nz - 1, Math.round(k)));
    let sx = 0; let sy = 0; let n = 0;
    if (maskEntry) {
      for (let y = 0; y < ny; y++) {
        for (let x = 0; x < nx; x++) {
          if (vol.getValue(x, y, z) > 0.5) { sx += x; sy += y; n++; }
        }
      }
    }
    const vox = n ? [sx / n, sy / n, z] : [(nx - 1) / 2, (ny - 1) / 2, z];
    const mm = vol.vox2mm(vox, vol.matRAS);
    if (n) tumourMM = [mm[0], mm[1], mm[2]];
    nv.scene.crosshairPos = nv.mm2frac(mm);
    nv.drawScene();
    showSlice();
  }

  /** The 2D mode shown (axial in multiplanar and 3D modes) and its RAS axis. */
  function currentMode() {
    const mode = viewModeName();
    return TWO_D.has(mode) ? mode : 'axial';
  }

  /** Crosshair position as RAS voxel indices of the base volume. */
  function crosshairVox() {
    return Array.from(nv.frac2vox(nv.scene.crosshairPos)).map((v) => Math.round(v));
  }

  /** Update the slice slider, its number and the value under the crosshair. */
  function showSlice() {
    const slider = $(panel, '#slice');
    const vol = nv.volumes[0];
    if (!vol) return;
    const axis = AXIS[currentMode()];
    const count = vol.dimsRAS[axis + 1];
    const vox = crosshairVox();
    if (slider) {
      slider.max = String(count - 1);
      slider.value = String(vox[axis]);
      slider.setAttribute('aria-valuetext', `${AXIS_NAME[axis]} slice ${vox[axis]} of ${count - 1}`);
    }
    setOutput(panel, 'slice', `${AXIS_NAME[axis]} ${vox[axis]} / ${count - 1}`);
  }

  /** Move the shown 2D slice (axial outside the 2D modes) by `step` voxels. */
  function moveSlice(step) {
    const axis = AXIS[currentMode()];
    const delta = [0, 0, 0];
    delta[axis] = step;
    nv.moveCrosshairInVox(...delta);
    showSlice();
  }

  function goToSlice(index) {
    const axis = AXIS[currentMode()];
    const vox = crosshairVox();
    vox[axis] = index;
    nv.scene.crosshairPos = nv.vox2frac(vox);
    nv.drawScene();
    showSlice();
  }

  // --- controls ------------------------------------------------------------------------------
  const on = (id, event, handler) => {
    const el = $(panel, `#${id}`);
    if (el) el.addEventListener(event, handler);
    return el;
  };

  const viewMode = $(panel, '#view-mode');
  const viewModeName = () => (viewMode ? viewMode.value : options.viewMode) || 'render';
  function applyViewMode() {
    const name = viewModeName();
    nv.setSliceType(VIEW_MODES[name] ?? SLICE_TYPE.RENDER);
    // Rotation only means something where a 3D render is shown.
    const rotatable = !TWO_D.has(name);
    panel.querySelectorAll('#azimuth, #elevation, #auto-rotate').forEach((el) => { el.disabled = !rotatable; });
    const rotateHint = $(panel, '#rotate-hint');
    if (rotateHint) rotateHint.hidden = rotatable;
    if (!rotatable) stopSpin();
    showSlice();
  }
  on('view-mode', 'change', applyViewMode);

  const azimuth = $(panel, '#azimuth');
  const elevation = $(panel, '#elevation');
  function applyRotation() {
    nv.setRenderAzimuthElevation(Number(azimuth.value), Number(elevation.value));
  }
  nv.onAzimuthElevationChange = (a, e) => {
    const az = ((Math.round(a) % 360) + 360) % 360;
    const el = Math.max(-90, Math.min(90, Math.round(e)));
    if (azimuth) azimuth.value = String(az);
    if (elevation) elevation.value = String(el);
    setOutput(panel, 'azimuth', `${az}°`);
    setOutput(panel, 'elevation', `${el}°`);
  };
  on('azimuth', 'input', applyRotation);
  on('elevation', 'input', applyRotation);

  let spinning = null;
  function spin(last) {
    spinning = requestAnimationFrame((now) => {
      const dt = Math.min(100, now - last);
      const az = (Number(azimuth.value) + dt * 0.03) % 360; // 30° per second
      nv.setRenderAzimuthElevation(az, Number(elevation.value));
      azimuth.value = String(az);
      setOutput(panel, 'azimuth', `${Math.round(az) % 360}°`);
      spin(now);
    });
  }
  function stopSpin() {
    if (spinning !== null) { cancelAnimationFrame(spinning); spinning = null; }
    const box = $(panel, '#auto-rotate');
    if (box) box.checked = false;
  }
  on('auto-rotate', 'change', (event) => {
    if (event.target.checked && spinning === null) spin(performance.now());
    if (!event.target.checked) stopSpin();
  });

  on('opacity', 'input', (event) => {
    const v = Number(event.target.value);
    nv.setOpacity(0, v);
    setOutput(panel, 'opacity', `${Math.round(v * 100)}%`);
  });

  function applyContrast(changed) {
    const vol = nv.volumes[0];
    let lo = Number($(panel, '#contrast-min').value);
    let hi = Number($(panel, '#contrast-max').value);
    if (lo >= hi) {
      const gap = (vol.global_max - vol.global_min) / 400 || 1e-3;
      if (changed === 'min') lo = hi - gap; else hi = lo + gap;
    }
    vol.cal_min = lo;
    vol.cal_max = hi;
    nv.updateGLVolume();
    showContrast();
  }
  on('contrast-min', 'input', () => applyContrast('min'));
  on('contrast-max', 'input', () => applyContrast('max'));
  on('contrast-reset', 'click', () => {
    const vol = nv.volumes[0];
    vol.cal_min = calDefaults.min;
    vol.cal_max = calDefaults.max;
    nv.updateGLVolume();
    showContrast();
  });

  for (const key of ['mask', 'segmentation', 'heatmap']) {
    on(`toggle-${key}`, 'change', (event) => {
      const entry = overlays.get(key);
      if (!entry) return;
      entry.visible = event.target.checked;
      applyOverlay(key);
    });
    on(`${key}-opacity`, 'input', (event) => {
      const entry = overlays.get(key);
      const v = Number(event.target.value);
      setOutput(panel, `${key}-opacity`, `${Math.round(v * 100)}%`);
      if (!entry) return;
      entry.opacity = v;
      applyOverlay(key);
    });
  }

  /** Centre (mm) of the extents NiiVue frames in its 2D tiles (the base volume's, at zoom 1). */
  function frameCentreMM() {
    const box = nv.opts.isSliceMM ? nv.volumeObject3D : nv.volumes[0];
    const [lo, hi] = nv.opts.isSliceMM ? [box.extentsMin, box.extentsMax]
      : [box.extentsMinOrtho, box.extentsMaxOrtho];
    return [0, 1, 2].map((i) => (lo[i] + hi[i]) / 2);
  }

  /**
   * NiiVue's 2D pan that shows the point `q` (mm) at the centre of every 2D tile at `zoom`.
   * A tile shows the window ((min - pan) / zoom, (max - pan) / zoom) of the framed extents, so
   * its centre is (C - pan) / zoom with C the extents' centre: pan = C - zoom · q. One 3D pan
   * serves the axial, coronal and sagittal tiles alike (each reads its own two axes).
   */
  function panShowing(q, zoom) {
    const c = frameCentreMM();
    return [0, 1, 2].map((i) => c[i] - zoom * q[i]);
  }

  on('size', 'input', (event) => {
    const zoom = Number(event.target.value);
    // Zooming in brings the tumour's centre to the middle of each 2D tile and keeps it there
    // (the crosshair without a tumour candidate); at 100% and below, the whole image is framed.
    const target = zoom > 1
      ? (tumourMM || Array.from(nv.frac2mm(nv.scene.crosshairPos)).slice(0, 3))
      : frameCentreMM();
    nv.scene.volScaleMultiplier = zoom;
    nv.setPan2Dxyzmm([...panShowing(target, zoom), zoom]);
    setOutput(panel, 'size', `${Math.round(zoom * 100)}%`);
  });

  // Orientation: one convention for the viewer and the page's figures (orientation.js).
  function applyConvention(next) {
    convention = next;
    nv.setRadiologicalConvention(next === 'radiological');
    nv.drawScene();
  }
  document.addEventListener('gliomalens:orientation', (event) => applyConvention(event.detail.convention));

  // A tumour overlay as an outline (in-plane boundary voxels), so the signal under it stays
  // visible. In the label map each sub-region gets its own boundary (where the label changes).
  function outlineOf(volume, src) {
    const [, nx, ny, nz] = volume.hdr.dims; // the file's own voxel order: the pipeline's RAS grid
    const out = new src.constructor(src.length);
    const at = (x, y, z) => src[x + nx * (y + ny * z)];
    for (let z = 0; z < nz; z++) {
      for (let y = 0; y < ny; y++) {
        for (let x = 0; x < nx; x++) {
          const v = at(x, y, z);
          if (!v) continue;
          const edge = x === 0 || y === 0 || x === nx - 1 || y === ny - 1
            || at(x - 1, y, z) !== v || at(x + 1, y, z) !== v
            || at(x, y - 1, z) !== v || at(x, y + 1, z) !== v;
          if (edge) out[x + nx * (y + ny * z)] = v;
        }
      }
    }
    return out;
  }
  for (const key of TUMOUR_KEYS) {
    on(`${key}-outline`, 'change', (event) => {
      const entry = overlays.get(key);
      if (!entry || !fills.get(key)) return;
      if (event.target.checked && !outlines.get(key)) {
        outlines.set(key, outlineOf(entry.volume, fills.get(key)));
      }
      entry.volume.img = event.target.checked ? outlines.get(key) : fills.get(key);
      nv.updateGLVolume();
    });
  }

  // Each sub-region of the label map on or off: only its colour's opacity changes.
  for (const seg of segments) {
    seg.input.addEventListener('change', () => {
      const entry = overlays.get('segmentation');
      if (!entry) return;
      entry.volume.setColormapLabel(segmentLut());
      nv.updateGLVolume();
    });
  }

  // Saliency restricted to the brain: overlays are hidden where the base volume is empty.
  function applyBrainOnly() {
    const box = $(panel, '#heatmap-brain');
    nv.backgroundMasksOverlays = box && box.checked ? 1 : 0;
  }
  on('heatmap-brain', 'change', () => { applyBrainOnly(); nv.updateGLVolume(); });

  const legend = $(panel, '#saliency-legend-bar');
  if (legend) legend.style.background = saliencyGradient();

  // Slices: the slider, the keyboard on the canvas (arrows, Page Up / Page Down), the readouts.
  on('slice', 'input', (event) => goToSlice(Number(event.target.value)));
  canvas.addEventListener('keydown', (event) => {
    const render = viewModeName() === 'render';
    const steps = { PageUp: 10, PageDown: -10 };
    if (!render) Object.assign(steps, { ArrowUp: 1, ArrowRight: 1, ArrowDown: -1, ArrowLeft: -1 });
    if (event.key in steps) {
      event.preventDefault();
      event.stopPropagation();
      moveSlice(steps[event.key]);
    } else if (render && event.key.startsWith('Arrow')) {
      event.preventDefault();
      event.stopPropagation();
      const da = { ArrowLeft: -5, ArrowRight: 5 }[event.key] || 0;
      const de = { ArrowUp: 5, ArrowDown: -5 }[event.key] || 0;
      azimuth.value = String((Number(azimuth.value) + da + 360) % 360);
      elevation.value = String(Math.max(-90, Math.min(90, Number(elevation.value) + de)));
      applyRotation();
    }
  });
  nv.onLocationChange = () => showSlice();

  const pointer = $(panel, '#pointer-value');
  canvas.addEventListener('mousemove', (event) => {
    if (!pointer) return;
    const rect = canvas.getBoundingClientRect();
    const scale = canvas.width / rect.width;
    const frac = nv.canvasPos2frac([(event.clientX - rect.left) * scale, (event.clientY - rect.top) * scale]);
    if (!frac || frac[0] < 0) { pointer.textContent = '—'; return; }
    const vox = Array.from(nv.frac2vox(frac)).map((v) => Math.round(v));
    const parts = [`${baseLabel || 'value'} ${fmt(nv.volumes[0].getValue(...vox))}`];
    const heat = overlays.get('heatmap');
    if (heat && heat.volume.dimsRAS[1] === nv.volumes[0].dimsRAS[1]) {
      const scale255 = heat.volume.cal_max > 1.5 ? 255 : 1;
      parts.push(`saliency ${(heat.volume.getValue(...vox) / scale255).toFixed(2)}`);
    }
    const seg = overlays.get('segmentation');
    if (seg && seg.volume.dimsRAS[1] === nv.volumes[0].dimsRAS[1]) {
      const value = Math.round(seg.volume.getValue(...vox));
      const found = segments.find((s) => s.value === value);
      if (found) parts.push(found.name.toLowerCase());
    }
    pointer.textContent = `${parts.join(' · ')} at voxel (${vox.join(', ')})`;
  });
  canvas.addEventListener('mouseleave', () => { if (pointer) pointer.textContent = '—'; });

  function showBaseLabel() {
    const label = $(panel, '#viewer-sequence');
    if (label) label.textContent = baseLabel;
  }

  on('canvas-height', 'change', (event) => {
    frame.classList.remove('size-s', 'size-m', 'size-l');
    frame.classList.add(`size-${event.target.value}`);
    nv.resizeListener();
  });

  /**
   * The view as a PNG data URL, annotated: case, sequence, convention and side markers, the
   * saliency scale when shown, and the disclaimer (panel data-case-label / data-disclaimer).
   */
  function annotatedImage() {
    nv.drawScene();
    const w = canvas.width;
    const h = canvas.height;
    const font = Math.max(14, Math.round(h / 40));
    const band = Math.round(font * 4.8);
    const out = document.createElement('canvas');
    out.width = w;
    out.height = h + band;
    const ctx = out.getContext('2d');
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.drawImage(canvas, 0, 0);
    ctx.font = `${font}px system-ui, sans-serif`;
    ctx.fillStyle = '#fff';
    ctx.textBaseline = 'top';
    const caseLabel = panel.dataset.caseLabel ? `Case ${panel.dataset.caseLabel}` : 'GliomaLens';
    const side = convention === 'radiological' ? 'patient\u2019s right on the left' : 'patient\u2019s right on the right';
    // NiiVue already draws R/L (and A/P, S/I) on every 2D tile of the canvas copied above.
    ctx.fillText(`${caseLabel} \u00b7 ${baseLabel} \u00b7 ${convention} (${side})`, 8, h + 6);
    const heat = overlays.get('heatmap');
    let x = 8;
    if (heat && heat.visible && heat.opacity > 0) {
      const grad = ctx.createLinearGradient(8 + font * 5.6, 0, 8 + font * 12.6, 0);
      const cm = saliencyColormap();
      cm.I.forEach((i, k) => grad.addColorStop(i / 255, `rgb(${cm.R[k]},${cm.G[k]},${cm.B[k]})`));
      ctx.fillText('Saliency 0', x, h + 8 + font * 1.4);
      ctx.fillStyle = grad;
      ctx.fillRect(8 + font * 5.6, h + 8 + font * 1.4, font * 7, font);
      ctx.fillStyle = '#fff';
      ctx.fillText('1', 8 + font * 13, h + 8 + font * 1.4);
      x = 8 + font * 15;
    }
    if (overlays.get('mask')?.visible) {
      ctx.fillStyle = 'rgb(213,94,0)';
      ctx.fillRect(x, h + 8 + font * 1.4, font, font);
      ctx.fillStyle = '#fff';
      ctx.fillText('tumour candidate', x + font * 1.4, h + 8 + font * 1.4);
    }
    if (overlays.get('segmentation')?.visible) {
      for (const seg of segments.filter((s) => s.input.checked)) {
        const text = seg.name.toLowerCase();
        ctx.fillStyle = seg.colour;
        ctx.fillRect(x, h + 8 + font * 1.4, font, font);
        ctx.fillStyle = '#fff';
        ctx.fillText(text, x + font * 1.4, h + 8 + font * 1.4);
        x += font * 2 + ctx.measureText(text).width;
      }
    }
    if (panel.dataset.disclaimer) {
      ctx.fillStyle = '#ffd166';
      ctx.fillText(panel.dataset.disclaimer, 8, h + 10 + font * 2.8);
    }
    return out.toDataURL('image/png');
  }

  on('save-image', 'click', () => {
    const link = document.createElement('a');
    link.href = annotatedImage();
    link.download = saveName;
    document.body.append(link);
    link.click();
    link.remove();
  });

  // --- start ---------------------------------------------------------------------------------
  applyViewMode();
  applyRotation();
  focusSlice(options.sliceIndex);
  showSlice();
  showBaseLabel();
  say('');
  status?.classList.add('done');
  canvas.dataset.ready = 'true';

  return {
    nv,
    canvas,
    /** Replace the grey volume (e.g. another sequence), keeping overlays, view and crosshair. */
    async setBase(base) {
      canvas.dataset.ready = 'false';
      say(`Loading ${base.label || base.name}…`);
      status?.classList.remove('done');
      try {
        await loadBase(base);
        baseLabel = base.label || base.name;
        showBaseLabel();
        rememberContrast();
        say('');
        status?.classList.add('done');
      } catch (err) {
        console.error(err);
        say(`Could not load ${base.label || base.name}.`);
      } finally {
        canvas.dataset.ready = 'true';
      }
    },
    focusSlice,
    /** The display convention now shown ('radiological' or 'neurological'). */
    convention: () => convention,
    /** PNG data URL of the current view (draws first, so it works without preserveDrawingBuffer). */
    snapshot() {
      nv.drawScene();
      return canvas.toDataURL('image/png');
    },
    /** PNG data URL of the annotated image that "Save image" downloads. */
    annotatedImage,
  };
}
