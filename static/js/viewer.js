// GliomaLens 3D viewer: one small wrapper around NiiVue, shared by the home and result pages.
//
// The markup (canvas + labelled controls) comes from templates/_viewer.html; this module wires
// each control to NiiVue. Usage:
//   const viewer = await createViewer(panel, { base: {url, name}, overlays: [...], viewMode: 'render' });
//   await viewer.setBase({ url, name });   // switch the displayed sequence
//   viewer.snapshot();                     // PNG data URL of the current view (for tests)
// NiiVue is served from static/vendor/niivue/ (copied from npm by scripts/build_static.sh).

import { Niivue, NVImage, SLICE_TYPE, SHOW_RENDER, MULTIPLANAR_TYPE } from '../vendor/niivue/index.js';

const VIEW_MODES = {
  render: SLICE_TYPE.RENDER,
  multiplanar: SLICE_TYPE.MULTIPLANAR,
  axial: SLICE_TYPE.AXIAL,
  coronal: SLICE_TYPE.CORONAL,
  sagittal: SLICE_TYPE.SAGITTAL,
};

// Colour-blind-safe overlay colours (Okabe-Ito): the tumour candidate in vermillion ("red"),
// the saliency heatmap as a blue -> sky blue -> near-white ramp, which stays distinct from the
// vermillion and from the grey brain for protan-, deutan- and tritanopes alike.
const COLORMAPS = {
  gl_mask: { R: [213, 213], G: [94, 94], B: [0, 0], A: [0, 255], I: [0, 255] },
  gl_heat: { R: [0, 86, 235], G: [114, 180, 248], B: [178, 233, 255], A: [0, 160, 255], I: [0, 128, 255] },
};

export const OVERLAY_STYLES = {
  mask: { colormap: 'gl_mask', opacity: 0.7, threshold: 0.5 },
  heatmap: { colormap: 'gl_heat', opacity: 0.6, threshold: 0.25 },
};

const $ = (root, sel) => root.querySelector(sel);

/** Layer position of a volume: the base first, then the heatmap, then the mask. */
function zOrder(volume, overlays) {
  if (overlays.get('mask')?.volume === volume) return 2;
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
 * options.base: {url, name} of the grey volume; options.overlays: [{key, url, name}] (key 'mask'
 * or 'heatmap'); options.viewMode; options.sliceIndex: axial index in the canonical (RAS+) grid
 * to put the crosshair on; options.saveName: file name of the saved PNG.
 */
export async function createViewer(panel, options = {}) {
  const canvas = $(panel, '#viewer');
  const frame = $(panel, '#viewer-frame');
  const status = $(panel, '#viewer-status');
  const say = (text) => { if (status) status.textContent = text; };
  const saveName = options.saveName || panel.dataset.saveName || 'gliomalens-view.png';

  const nv = new Niivue({
    backColor: [0, 0, 0, 1],
    crosshairColor: [0.34, 0.71, 0.91, 1], // Okabe-Ito sky blue
    crosshairWidth: 1,
    show3Dcrosshair: options.sliceIndex !== null && options.sliceIndex !== undefined,
    isResizeCanvas: true,
    isColorbar: false,
    dragAndDropEnabled: false,
    multiplanarShowRender: SHOW_RENDER.ALWAYS,
    multiplanarLayout: MULTIPLANAR_TYPE.GRID, // 2 × 2: larger tiles than a row of four
    loadingText: 'loading...', // NiiVue's bitmap font has no ellipsis glyph
    logLevel: 'warn',
  });
  await nv.attachToCanvas(canvas);
  for (const [name, cmap] of Object.entries(COLORMAPS)) nv.addColormap(name, cmap);

  const overlays = new Map(); // key -> {volume, visible, opacity}
  let calDefaults = null;

  // --- loading -------------------------------------------------------------------------------
  // One loadVolumes call for the base and all overlays: every volume change makes NiiVue rebuild
  // its textures, which takes seconds with software WebGL.
  const specs = (options.overlays || []).map((spec) => {
    const style = OVERLAY_STYLES[spec.key] || OVERLAY_STYLES.heatmap;
    const slider = $(panel, `#${spec.key}-opacity`);
    const toggle = $(panel, `#toggle-${spec.key}`);
    const opacity = slider ? Number(slider.value) : style.opacity;
    const visible = toggle ? toggle.checked : true;
    return {
      spec,
      entry: { opacity, visible },
      // Mask: 0/1; heatmap: saliency scaled 0..1 by the pipeline (values below the threshold are clear).
      load: { url: spec.url, name: spec.name, colormap: style.colormap, opacity: visible ? opacity : 0,
              cal_min: style.threshold, cal_max: 1 },
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

  /**
   * Load `base` and the overlays (with their current settings) and show them together.
   * The volumes are fetched in parallel and handed to NiiVue at once: its loadVolumes() rebuilds
   * every layer after each volume, which costs tens of seconds with software WebGL.
   */
  async function loadAll(base) {
    const baseLoad = { url: base.url, name: base.name, colormap: 'gray', opacity: nv.volumes[0]?.opacity ?? 1 };
    const live = specs.filter((s) => !s.failed);
    for (const s of live) s.load.opacity = s.entry.visible ? s.entry.opacity : 0;
    const [back, ...layers] = await Promise.all([
      NVImage.loadFromUrl(baseLoad),
      ...live.map((s) => NVImage.loadFromUrl({ ...s.load }).catch((err) => {
        console.warn(`GliomaLens viewer: overlay ${s.spec.key} not loaded`, err);
        markUnavailable(s);
        return null;
      })),
    ]);
    const volumes = [back];
    live.forEach((s, i) => {
      if (!layers[i]) return;
      s.entry.volume = layers[i];
      overlays.set(s.spec.key, s.entry);
      volumes.push(layers[i]);
    });
    // Draw order: the heatmap below, the tumour candidate on top, so the mask stays easy to see.
    volumes.sort((a, b) => zOrder(a, overlays) - zOrder(b, overlays));
    nv.volumes = volumes;
    nv.back = back;
    nv.overlays = volumes.slice(1);
    nv.updateGLVolume();
  }
  await loadAll(options.base);
  // The heatmap is expected in 0..1; rescale the window if a pipeline writes another range.
  const heat = overlays.get('heatmap');
  if (heat && heat.volume.global_max > 0 && (heat.volume.global_max < 0.5 || heat.volume.global_max > 1.5)) {
    heat.volume.cal_min = heat.volume.global_max * OVERLAY_STYLES.heatmap.threshold;
    heat.volume.cal_max = heat.volume.global_max;
    nv.updateGLVolume();
  }
  rememberContrast();

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

  /** Put the crosshair on axial slice `k` of the canonical grid, at the tumour's centre when known. */
  function focusSlice(k) {
    if (k === null || k === undefined || Number.isNaN(k)) return;
    const maskEntry = overlays.get('mask');
    // The mask is written by the pipeline on the canonical RAS+ grid, so its RAS voxel grid is the
    // grid the slice index refers to; without a mask, use the base volume's RAS grid.
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
    nv.scene.crosshairPos = nv.mm2frac(mm);
    nv.drawScene();
  }

  // --- controls ------------------------------------------------------------------------------
  const on = (id, event, handler) => {
    const el = $(panel, `#${id}`);
    if (el) el.addEventListener(event, handler);
    return el;
  };

  const viewMode = $(panel, '#view-mode');
  function applyViewMode() {
    const mode = VIEW_MODES[viewMode ? viewMode.value : options.viewMode] ?? SLICE_TYPE.RENDER;
    nv.setSliceType(mode);
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
      spin(now);
    });
  }
  on('auto-rotate', 'change', (event) => {
    if (event.target.checked && spinning === null) spin(performance.now());
    if (!event.target.checked && spinning !== null) { cancelAnimationFrame(spinning); spinning = null; }
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

  for (const key of ['mask', 'heatmap']) {
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

  on('size', 'input', (event) => {
    const zoom = Number(event.target.value);
    const pan = nv.scene.pan2Dxyzmm;
    nv.scene.volScaleMultiplier = zoom;
    nv.setPan2Dxyzmm([pan[0], pan[1], pan[2], zoom]);
    nv.drawScene();
    setOutput(panel, 'size', `${Math.round(zoom * 100)}%`);
  });

  on('canvas-height', 'change', (event) => {
    frame.classList.remove('size-s', 'size-m', 'size-l');
    frame.classList.add(`size-${event.target.value}`);
    nv.resizeListener();
  });

  on('save-image', 'click', () => nv.saveScene(saveName));

  // --- start ---------------------------------------------------------------------------------
  applyViewMode();
  applyRotation();
  focusSlice(options.sliceIndex);
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
        await loadAll(base);
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
    /** PNG data URL of the current view (draws first, so it works without preserveDrawingBuffer). */
    snapshot() {
      nv.drawScene();
      return canvas.toDataURL('image/png');
    },
  };
}
