// Only on pages served by `imagegen web`: the buttons write request files through the
// server, and the page reloads when the files it shows change (the daemon applied a pick).
(function () {
  "use strict";
  const body = document.body;
  const episode = body.dataset.episode || "";
  const toast = document.getElementById("toast");

  function say(text, error) {
    toast.textContent = text;
    toast.style.background = error ? "#b3261e" : "#1d2329";
    toast.style.display = "block";
  }

  async function act(button) {
    const request = {
      action: button.dataset.action,
      episode: episode,
      chapter_id: button.dataset.chapter || null,
      candidate: button.dataset.candidate || null,
    };
    button.disabled = true;
    try {
      const answer = await fetch("/.api/action", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        credentials: "same-origin",
        body: JSON.stringify(request),
      });
      const data = await answer.json();
      if (!answer.ok) throw new Error(data.error || answer.statusText);
      say(data.message + " The daemon does the work; this page follows.", false);
      poll();
    } catch (e) {
      say("Refused: " + e.message, true);
      button.disabled = false;
    }
  }

  document.querySelectorAll("button[data-action]").forEach(function (b) {
    b.addEventListener("click", function () { act(b); });
  });

  async function poll() {
    try {
      const query = episode ? "?episode=" + encodeURIComponent(episode) : "";
      const answer = await fetch("/.api/state" + query, { credentials: "same-origin", cache: "no-store" });
      if (answer.ok) {
        const data = await answer.json();
        if (data.version !== body.dataset.version) { location.reload(); return; }
      }
    } catch (e) { /* the server restarts: keep polling */ }
  }
  setInterval(poll, 1000);
})();
