// Start the 3D viewer without letting a missing NiiVue bundle or WebGL2 break the rest of the page:
// viewer.js (which imports NiiVue) is loaded lazily, and any failure is shown in #viewer-status.

/** Load viewer.js and create the viewer in `panel`; resolves to the viewer or null on failure. */
export async function bootViewer(panel, options) {
  try {
    const { createViewer } = await import('./viewer.js');
    const viewer = await createViewer(panel, options);
    window.gliomaViewer = viewer; // handy for the browser tests and for debugging
    return viewer;
  } catch (err) {
    console.error('GliomaLens viewer failed', err);
    const canvas = panel.querySelector('#viewer');
    const status = panel.querySelector('#viewer-status');
    if (canvas) canvas.dataset.ready = 'error';
    panel.classList.add('viewer-failed');
    if (status) {
      status.textContent = 'The 3D viewer could not start. It needs a browser with WebGL2, '
        + 'and the viewer files installed on the server (scripts/build_static.sh).';
      status.classList.add('error');
    }
    return null;
  }
}
