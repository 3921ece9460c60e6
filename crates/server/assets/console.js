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
// "Check the certificate": the server validates the mTLS identity typed or chosen in the form
// (files included) and the page shows what it found, before anything is saved.
for (const button of document.querySelectorAll("button[data-check-mtls]")) {
  const output = document.getElementById("mtls_summary");
  if (!output || !window.fetch || !window.FormData) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    output.textContent = "Checking…";
    try {
      const response = await fetch(button.dataset.checkMtls, {
        method: "POST",
        body: new FormData(button.form),
        credentials: "same-origin",
      });
      const found = await response.json();
      output.textContent = found.error
        ? "Refused: " + found.error.message
        : `Subject: ${found.subject} · Issuer: ${found.issuer} · Expires: ${found.not_after} · ` +
          `Key: ${found.key_type} · SHA-256: ${found.sha256_fingerprint}`;
    } catch {
      output.textContent = "The check failed; the account's page will show the certificate once saved.";
    }
  });
}
