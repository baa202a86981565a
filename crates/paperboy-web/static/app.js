// Paperboy's only script, a progressive enhancement: copy buttons, and upvotes and saves
// without reloading the page. Pages work without it.
"use strict";
for (const button of document.querySelectorAll("button[data-copy]")) {
  const target = document.getElementById(button.dataset.copy);
  if (!target) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    const text = target.textContent;
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch {
      const range = document.createRange();
      range.selectNodeContents(target);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      button.textContent = document.execCommand("copy") ? "Copied" : "Selected: press Ctrl+C";
    }
    button.dataset.copied = text;
  });
}

// Upvote and save buttons: sent in the background, the button updated in place. Without
// JavaScript (or if the request fails) the form is sent the ordinary way.
for (const form of document.querySelectorAll("form[data-mark]")) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button");
    const value = form.querySelector("input[name=value]");
    button.disabled = true;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        headers: { Accept: "application/json" },
        body: new URLSearchParams(new FormData(form)),
        credentials: "same-origin",
      });
      if (!response.ok) throw new Error(`status ${response.status}`);
      const answer = await response.json();
      const on = form.dataset.mark === "upvote" ? answer.upvoted : answer.saved;
      value.value = on ? "false" : "true";
      button.setAttribute("aria-pressed", String(on));
      if (form.dataset.mark === "upvote") {
        button.querySelector(".count").textContent = String(answer.upvotes);
        button.title = on ? "Take back your upvote" : "Upvote";
      } else {
        button.textContent = on ? "★ Saved" : "☆ Save";
      }
    } catch {
      form.submit();
    } finally {
      button.disabled = false;
    }
  });
}
