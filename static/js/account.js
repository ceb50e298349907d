// Account page: copy a new API token to the clipboard (it is shown only once).
const button = document.getElementById('copy-token');
if (button) {
  const token = document.getElementById(button.dataset.target);
  const status = document.getElementById('copy-status');
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(token.textContent.trim());
      status.textContent = 'Copied to the clipboard.';
    } catch (err) {
      // No clipboard access (an insecure origin, or permission refused): select it for Ctrl+C.
      const range = document.createRange();
      range.selectNodeContents(token);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      status.textContent = 'Selected: press Ctrl+C (or ⌘C) to copy.';
    }
  });
}
