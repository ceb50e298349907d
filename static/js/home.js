// Home page: the MNI152 brain in the 3D viewer.
import { bootViewer } from './viewer_boot.js';
import { setupOrientation } from './orientation.js';

setupOrientation();

const panel = document.getElementById('viewer-panel');
if (panel) {
  bootViewer(panel, {
    base: { url: panel.dataset.baseUrl, name: panel.dataset.baseName, label: 'MNI152 T1' },
    viewMode: panel.dataset.viewMode,
  });
}
