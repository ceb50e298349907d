// Upload page: drag-and-drop with slot assignment by file name, client-side checks, and an
// XMLHttpRequest upload with a progress bar. Without JavaScript the form still posts normally;
// the server checks everything again either way.

// The naming conventions come from the server (app/pipeline/io/naming.py naming_table()), so the
// drop zone, `flask model predict` and the dataset reader share one table.
const NAMING = JSON.parse(document.getElementById('slots')?.dataset.naming || '{}');
const SEQUENCES = NAMING.sequences || [];
const LABELS = NAMING.labels || {};
const MIN_BYTES = 352; // a NIfTI-1 header alone is 348 bytes (+4 extension bytes in .nii)

const form = document.getElementById('upload-form');
const dropzone = document.getElementById('dropzone');
const dropInput = document.getElementById('drop-input');
const report = document.getElementById('drop-report');
const progressBox = document.getElementById('upload-progress-box');
const progress = document.getElementById('upload-progress');
const progressText = document.getElementById('upload-progress-text');
const progressLabel = document.getElementById('upload-progress-label');
const formError = document.getElementById('upload-error');
const submit = document.getElementById('upload-submit');
const maxBytes = Number(form?.dataset.maxBytes) || 0;

const slot = (name) => document.getElementById(name);

const escapeRe = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const escapeClass = (text) => text.replace(/[\]\\^-]/g, '\\$&');

/** One token list -> the server's rule: after a separator or at the start, before .nii[.gz]. */
function tokenPattern(tokens) {
  const alternatives = [...tokens].sort((a, b) => b.length - a.length)
    .map((t) => t.split('').map((ch) => ('_-'.includes(ch) ? '[_-]' : escapeRe(ch))).join(''))
    .join('|');
  return new RegExp(`(?:^|[${escapeClass(NAMING.separators || '_-. ')}])(?:${alternatives})\\.nii(?:\\.gz)?$`, 'i');
}

const PATTERNS = SEQUENCES.map((seq) => [seq, tokenPattern(NAMING.tokens[seq])]);
const SEGMENTATION = tokenPattern(NAMING.segmentation_tokens || ['seg']);
const baseName = (name) => name.split(/[\\/]/).pop();

export function isSegmentationFile(name) {
  return SEGMENTATION.test(baseName(name));
}

export function sequenceFromFilename(name) {
  const base = baseName(name);
  if (SEGMENTATION.test(base)) return null;
  let best = null;
  for (const [seq, pattern] of PATTERNS) {
    const match = pattern.exec(base);
    // The match that starts earliest covers the longest token ("T2_FLAIR" is FLAIR, not T2).
    if (match && (best === null || match.index < best.index)) best = { index: match.index, seq };
  }
  return best ? best.seq : null;
}

const allSlotsFilled = () => SEQUENCES.every((s) => slot(s).files && slot(s).files.length);

function humanSize(bytes) {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} bytes`;
}

function setSlotError(name, message) {
  const field = document.getElementById(`field-${name}`);
  const error = document.getElementById(`${name}-error`);
  if (!field || !error) return;
  field.classList.toggle('has-error', Boolean(message));
  error.textContent = message || '';
  error.hidden = !message;
}

function showFormError(message) {
  formError.textContent = message || '';
  formError.hidden = !message;
}

/** Check one file on the client: NIfTI extension and a plausible size. Returns a message or ''. */
function checkFile(file) {
  if (!/\.nii(\.gz)?$/i.test(file.name)) return `${file.name} is not a NIfTI file: choose a .nii or .nii.gz file.`;
  if (file.size < MIN_BYTES) return `${file.name} is too small (${humanSize(file.size)}) to be a NIfTI image.`;
  if (maxBytes && file.size > maxBytes) return `${file.name} is too large (${humanSize(file.size)}; the limit is ${humanSize(maxBytes)}).`;
  return '';
}

/** Refresh one slot's file line and client-side error; returns true when the slot is fine. */
function refreshSlot(name) {
  const input = slot(name);
  const file = input.files && input.files[0];
  const line = document.getElementById(`${name}-file`);
  const field = document.getElementById(`field-${name}`);
  field.classList.toggle('filled', Boolean(file));
  if (!file) {
    line.textContent = '';
    setSlotError(name, '');
    return false;
  }
  line.textContent = `${file.name} · ${humanSize(file.size)}`;
  const guessed = sequenceFromFilename(file.name);
  let message = checkFile(file);
  if (!message && guessed && guessed !== name) {
    line.textContent += ` — the name says ${LABELS[guessed]}; check this slot`;
  }
  setSlotError(name, message);
  return !message;
}

function assign(name, file) {
  const transfer = new DataTransfer();
  transfer.items.add(file);
  slot(name).files = transfer.files;
  refreshSlot(name);
}

/** Put dropped / chosen files in their slots by name; report what could not be placed. */
function placeFiles(fileList) {
  const files = Array.from(fileList);
  const unplaced = [];
  const placed = [];
  const ignored = [];
  for (const file of files) {
    const sequence = sequenceFromFilename(file.name);
    if (isSegmentationFile(file.name)) {
      ignored.push(file.name);
    } else if (sequence) {
      assign(sequence, file);
      placed.push(`${LABELS[sequence]} ← ${file.name}`);
    } else {
      unplaced.push(file);
    }
  }
  // One file without a recognised name and one empty slot left: the choice is unambiguous.
  const empty = SEQUENCES.filter((s) => !(slot(s).files && slot(s).files.length));
  if (unplaced.length === 1 && empty.length === 1) {
    assign(empty[0], unplaced[0]);
    placed.push(`${LABELS[empty[0]]} ← ${unplaced[0].name} (the only empty slot: please check)`);
    unplaced.length = 0;
  }
  const parts = [];
  if (placed.length) parts.push(`Assigned: ${placed.join('; ')}.`);
  if (ignored.length) parts.push(`Not needed (a segmentation, ignored): ${ignored.join(', ')}.`);
  if (unplaced.length) {
    parts.push(`Could not tell the sequence of ${unplaced.map((f) => f.name).join(', ')} from the name `
      + '(for example *_flair, *-t1c, T2w before .nii or .nii.gz): choose their slots by hand below.');
  }
  report.textContent = parts.join(' ');
  report.classList.toggle('error', unplaced.length > 0);
}

/** Once every slot holds a file, an earlier "could not tell the sequence" alarm is resolved. */
function clearResolvedAlarm() {
  if (allSlotsFilled() && report.classList.contains('error')) {
    report.classList.remove('error');
    report.textContent = 'Every slot has a file.';
  }
}

if (form) {
  // ---- drag and drop --------------------------------------------------------------------------
  dropzone.addEventListener('click', () => dropInput.click());
  dropzone.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); dropInput.click(); }
  });
  dropInput.addEventListener('change', () => { placeFiles(dropInput.files); dropInput.value = ''; });
  for (const type of ['dragenter', 'dragover']) {
    dropzone.addEventListener(type, (event) => {
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
      dropzone.classList.add('dragover');
    });
  }
  dropzone.addEventListener('dragleave', () => dropzone.classList.remove('dragover'));
  dropzone.addEventListener('drop', (event) => {
    event.preventDefault();
    dropzone.classList.remove('dragover');
    placeFiles(event.dataTransfer.files);
  });
  // A file dropped anywhere else on the page must not make the browser navigate away to it.
  window.addEventListener('dragover', (event) => event.preventDefault());
  window.addEventListener('drop', (event) => event.preventDefault());

  // ---- manual correction --------------------------------------------------------------------
  for (const name of SEQUENCES) {
    slot(name).addEventListener('change', () => { refreshSlot(name); clearResolvedAlarm(); });
  }
  // A server-rendered page (no-JS fallback, or back button) may already carry files or errors.
  for (const name of SEQUENCES) if (slot(name).files && slot(name).files.length) refreshSlot(name);

  // ---- submit -------------------------------------------------------------------------------
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    showFormError('');
    let firstBad = null;
    let total = 0;
    for (const name of SEQUENCES) {
      const input = slot(name);
      const file = input.files && input.files[0];
      if (!file) {
        setSlotError(name, `Choose the ${LABELS[name]} file.`);
        firstBad = firstBad || input;
      } else if (!refreshSlot(name)) {
        firstBad = firstBad || input;
      } else {
        total += file.size;
      }
    }
    const chosen = SEQUENCES.map((s) => slot(s).files[0]).filter(Boolean);
    const names = chosen.map((f) => `${f.name}:${f.size}:${f.lastModified}`);
    if (new Set(names).size !== names.length) {
      showFormError('The same file is in more than one slot.');
      firstBad = firstBad || slot(SEQUENCES[0]);
    }
    if (!firstBad && maxBytes && total > maxBytes) {
      showFormError(`The four files together are too large (${humanSize(total)}; the limit is ${humanSize(maxBytes)}).`);
      firstBad = slot(SEQUENCES[0]);
    }
    if (firstBad) { firstBad.focus(); return; }
    send();
  });
}

function setProgress(percent, label) {
  progress.value = percent;
  progress.textContent = `${percent}%`;
  progressText.textContent = `${percent}%`;
  if (label) progressLabel.textContent = label;
}

function send() {
  const xhr = new XMLHttpRequest();
  xhr.open('POST', form.action || window.location.href);
  xhr.setRequestHeader('Accept', 'application/json');
  xhr.responseType = 'json';
  progressBox.hidden = false;
  setProgress(0, 'Uploading');
  submit.disabled = true;
  form.setAttribute('aria-busy', 'true');

  xhr.upload.addEventListener('progress', (event) => {
    if (!event.lengthComputable) return;
    const percent = Math.min(100, Math.round((event.loaded / event.total) * 100));
    setProgress(percent, percent < 100 ? 'Uploading' : 'Checking the files on the server…');
  });
  xhr.upload.addEventListener('load', () => setProgress(100, 'Checking the files on the server…'));

  const fail = (message) => {
    submit.disabled = false;
    form.removeAttribute('aria-busy');
    progressBox.hidden = true;
    showFormError(message);
  };

  xhr.addEventListener('load', () => {
    const body = xhr.response || {};
    if (xhr.responseURL && new URL(xhr.responseURL).pathname.endsWith('/login')) {
      fail('Your session has ended: log in again, then upload.');
      return;
    }
    if (xhr.status === 201 && body.redirect) {
      setProgress(100, 'Uploaded: opening the case…');
      window.location.assign(body.redirect);
      return;
    }
    if (xhr.status === 400 && body.errors) {
      let general = [];
      for (const [fieldName, messages] of Object.entries(body.errors)) {
        const text = [].concat(messages).join(' ');
        if (SEQUENCES.includes(fieldName)) setSlotError(fieldName, text);
        else if (fieldName === 'pseudonym') general.push(`Pseudonym: ${text}`);
        else if (fieldName === 'csrf_token') general.push('The form expired: reload the page and try again.');
        else general.push(text);
      }
      fail(general.join(' ') || 'Some files were refused: see the messages above.');
      const bad = SEQUENCES.find((s) => body.errors[s]);
      if (bad) slot(bad).focus();
      return;
    }
    if (xhr.status === 413) { fail(`The upload is too large (the limit is ${humanSize(maxBytes)}).`); return; }
    if (xhr.status === 401 || xhr.status === 403) { fail('Your session has ended: log in again, then upload.'); return; }
    fail(`The upload failed (HTTP ${xhr.status}). Please try again.`);
  });
  xhr.addEventListener('error', () => fail('The upload failed: the server could not be reached.'));
  xhr.addEventListener('abort', () => fail('The upload was cancelled.'));
  xhr.send(new FormData(form));
}
