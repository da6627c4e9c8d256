// Delete buttons: fetch() with the CSRF token from the page's meta tag in the
// X-CSRF-Token header. Loaded as a file, so the page's Content-Security-Policy
// can forbid inline scripts and handler attributes.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

function showStatus(message) {
  const status = document.getElementById("status");
  if (status) {
    status.textContent = message;
    status.hidden = false;
  }
}

async function deleteNote(button) {
  const id = button.dataset.noteId;
  button.disabled = true;
  let response;
  try {
    response = await fetch("/api/notes/" + encodeURIComponent(id), {
      method: "DELETE",
      headers: { "X-CSRF-Token": csrfToken(), "Accept": "application/json" },
      credentials: "same-origin",
    });
  } catch (error) {
    showStatus("The note could not be deleted: the server did not answer.");
    button.disabled = false;
    return;
  }
  if (response.status === 204) {
    button.closest("li").remove();
    return;
  }
  let detail = "status " + response.status;
  try {
    const problem = await response.json();
    if (problem.detail) {
      detail = problem.detail + (problem.reason ? " (" + problem.reason + ")" : "");
    }
  } catch (error) {
    // Not JSON: keep the status.
  }
  showStatus("The note was not deleted: " + detail);
  button.disabled = false;
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button.delete");
  if (button) {
    deleteNote(button);
  }
});
