// Home page: the MNI152 brain in the 3D viewer.
import { bootViewer } from './viewer_boot.js';

const panel = document.getElementById('viewer-panel');
if (panel) {
  bootViewer(panel, {
    base: { url: panel.dataset.baseUrl, name: panel.dataset.baseName },
    viewMode: panel.dataset.viewMode,
  });
}
