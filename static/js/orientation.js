// One display convention for every image on the page: the viewer and the 2D figures follow the
// #orientation control together. Radiological (the patient's right on the screen's left) is the
// default; the choice is remembered in this browser.
const KEY = 'gliomalens.orientation';
export const CONVENTIONS = ['radiological', 'neurological'];

/** The convention to start with: the stored choice, else radiological. */
export function initialConvention() {
  try {
    const stored = window.localStorage.getItem(KEY);
    if (CONVENTIONS.includes(stored)) return stored;
  } catch (err) { /* storage disabled: use the default */ }
  return CONVENTIONS[0];
}

/**
 * Show every figure (img[data-src-radiological][data-src-neurological]) in `convention`, set the
 * control, remember the choice and tell listeners (the viewer) with a 'gliomalens:orientation' event.
 */
export function applyConvention(convention) {
  if (!CONVENTIONS.includes(convention)) return;
  document.querySelectorAll('img[data-src-radiological][data-src-neurological]').forEach((img) => {
    const src = img.dataset[convention === 'radiological' ? 'srcRadiological' : 'srcNeurological'];
    if (img.getAttribute('src') !== src) img.setAttribute('src', src);
    const link = img.closest('a.figure-open');
    if (link) link.href = src;
  });
  document.querySelectorAll('[data-orientation-label]').forEach((el) => {
    el.textContent = convention === 'radiological'
      ? 'Radiological: the patient\u2019s right is on the screen\u2019s left.'
      : 'Neurological: the patient\u2019s right is on the screen\u2019s right.';
  });
  const select = document.getElementById('orientation');
  if (select && select.value !== convention) select.value = convention;
  document.documentElement.dataset.orientation = convention;
  try { window.localStorage.setItem(KEY, convention); } catch (err) { /* not remembered */ }
  document.dispatchEvent(new CustomEvent('gliomalens:orientation', { detail: { convention } }));
}

/** Wire the #orientation control (if any) and apply the initial convention. */
export function setupOrientation() {
  const select = document.getElementById('orientation');
  if (select) select.addEventListener('change', () => applyConvention(select.value));
  applyConvention(initialConvention());
}

/**
 * Figures open full size on click: in a dialog showing the image at its natural size (scrollable),
 * closed by Escape, the close button or a click outside the image.
 */
export function setupFigureZoom() {
  document.querySelectorAll('a.figure-open').forEach((link) => {
    link.addEventListener('click', (event) => {
      const img = link.querySelector('img');
      if (!img || typeof HTMLDialogElement === 'undefined') return; // plain link fallback
      event.preventDefault();
      let dialog = document.getElementById('figure-dialog');
      if (!dialog) {
        dialog = document.createElement('dialog');
        dialog.id = 'figure-dialog';
        dialog.className = 'figure-dialog';
        dialog.innerHTML = '<form method="dialog"><button class="button small" id="figure-close">Close</button></form><img alt="">';
        dialog.addEventListener('click', (e) => { if (e.target === dialog) dialog.close(); });
        document.body.append(dialog);
      }
      const big = dialog.querySelector('img');
      big.src = img.currentSrc || img.src;
      big.alt = img.alt;
      dialog.showModal();
    });
  });
}
