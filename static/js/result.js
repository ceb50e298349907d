// Result page: poll the status while the case is processed, then reload into the result;
// start the 3D viewer with the sequence switcher and the two overlays when the result is shown.
import { bootViewer } from './viewer_boot.js';
import { setupFigureZoom, setupOrientation } from './orientation.js';

const POLL_MS = 1000;
const caseEl = document.getElementById('case');

// ---- progress while queued / running ------------------------------------------------------------
function startPolling() {
  const url = caseEl.dataset.statusUrl;
  const stage = document.getElementById('stage');
  const progress = document.getElementById('progress');
  const progressText = document.getElementById('progress-text');
  const statusText = document.getElementById('case-status');
  const badge = document.getElementById('status-badge');
  const pollError = document.getElementById('poll-error');
  let failures = 0;

  async function poll() {
    let delay = POLL_MS;
    try {
      const response = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
      if (response.redirected || response.status === 401 || response.status === 404) {
        window.location.reload(); // logged out or case deleted: let the server say so
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const data = await response.json();
      failures = 0;
      pollError.hidden = true;
      if (data.status === 'done' || data.status === 'failed') {
        stage.textContent = data.status === 'done' ? 'finished' : 'failed';
        progress.value = 100;
        window.location.reload();
        return;
      }
      stage.textContent = data.stage || data.status;
      statusText.textContent = data.status;
      badge.textContent = data.status;
      badge.className = `badge badge-${data.status}`;
      const percent = Math.max(0, Math.min(100, Number(data.percent) || 0));
      progress.value = percent;
      progress.textContent = `${percent}%`;
      progressText.textContent = `${percent}%`;
    } catch (err) {
      failures += 1;
      delay = Math.min(15000, POLL_MS * 2 ** Math.min(failures, 4));
      if (failures >= 3) {
        pollError.textContent = 'Lost contact with the server; still trying…';
        pollError.hidden = false;
      }
    }
    window.setTimeout(poll, delay);
  }
  window.setTimeout(poll, POLL_MS);
}

// ---- the 3D viewer of a finished case -------------------------------------------------------------
async function startViewer(panel) {
  const select = document.getElementById('sequence');
  const option = select ? select.selectedOptions[0] : null;
  if (!option) return;
  const overlays = Array.from(panel.querySelectorAll('.overlay-control')).map((el) => ({
    key: el.dataset.overlay, url: el.dataset.url, name: el.dataset.name,
  }));
  const slice = panel.dataset.sliceIndex;
  const viewer = await bootViewer(panel, {
    base: { url: option.dataset.url, name: option.dataset.name, label: option.textContent.trim() },
    overlays,
    viewMode: panel.dataset.viewMode,
    sliceIndex: slice === undefined || slice === '' ? null : Number(slice),
  });
  if (!viewer) { select.disabled = true; return; }
  select.addEventListener('change', async () => {
    const chosen = select.selectedOptions[0];
    select.disabled = true;
    await viewer.setBase({ url: chosen.dataset.url, name: chosen.dataset.name, label: chosen.textContent.trim() });
    select.disabled = false;
  });
}

// ---- confirmation before deleting -------------------------------------------------------------------
const deleteForm = document.getElementById('delete-form');
if (deleteForm) {
  deleteForm.addEventListener('submit', (event) => {
    if (!window.confirm('Delete this case, its files and its result? This cannot be undone.')) event.preventDefault();
  });
}

if (caseEl && document.getElementById('processing')) startPolling();
setupOrientation();
setupFigureZoom();
const panel = document.getElementById('viewer-panel');
if (panel) startViewer(panel);
