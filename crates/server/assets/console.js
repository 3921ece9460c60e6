// Keyway console: small improvements on pages that work without this file.
"use strict";
// Copy buttons: <button data-copy="ID" hidden> copies the value of the element with that ID.
for (const button of document.querySelectorAll("button[data-copy]")) {
  const source = document.getElementById(button.dataset.copy);
  if (!source || !navigator.clipboard) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(source.value || source.textContent);
      button.textContent = "Copied";
    } catch {
      source.select?.();
      button.textContent = "Press Ctrl+C to copy";
    }
  });
}
