// The one saliency colour map of GliomaLens (cividis-like: dark blue -> grey -> yellow, readable
// with any colour vision). The same anchors build the Grad-CAM PNG's LUT in
// app/pipeline/saliency.py (_CIVIDIS_ANCHORS); tests/classifier/test_saliency.py checks they agree.
export const SALIENCY_ANCHORS = [
  [0, 34, 78],
  [18, 53, 112],
  [59, 73, 108],
  [87, 92, 109],
  [112, 113, 115],
  [138, 134, 120],
  [166, 157, 117],
  [196, 181, 107],
  [227, 208, 88],
  [254, 232, 56],
];

/** NiiVue colormap of the anchors; opacity grows with saliency (0 = clear), as in the PNG. */
export function saliencyColormap() {
  const n = SALIENCY_ANCHORS.length;
  const I = SALIENCY_ANCHORS.map((_, i) => Math.round((255 * i) / (n - 1)));
  return {
    R: SALIENCY_ANCHORS.map((c) => c[0]),
    G: SALIENCY_ANCHORS.map((c) => c[1]),
    B: SALIENCY_ANCHORS.map((c) => c[2]),
    A: I.slice(),
    I,
  };
}

/** CSS linear-gradient of the anchors, from 0 (low) at the left to 1 (high) at the right. */
export function saliencyGradient(direction = 'to right') {
  const n = SALIENCY_ANCHORS.length;
  const stops = SALIENCY_ANCHORS.map((c, i) => `rgb(${c.join(',')}) ${((100 * i) / (n - 1)).toFixed(1)}%`);
  return `linear-gradient(${direction}, ${stops.join(', ')})`;
}
