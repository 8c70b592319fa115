// The consent capture page: record camera + microphone, show the server's prompts at their
// moments, report when each was shown, upload, then wait for the decision.
// Plain browser JavaScript: getUserMedia, MediaRecorder, fetch. No build step, no CDN.
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("capture-config").textContent);
  var POLL_MS = 1500;
  var TYPES = ["video/webm;codecs=vp8,opus", "video/webm;codecs=vp9,opus", "video/webm",
               "video/mp4"];

  function $(id) { return document.getElementById(id); }

  function say(text, failed) {
    var box = $("status");
    box.textContent = text;
    box.className = failed ? "failed" : "";
    box.setAttribute("data-state", failed ? "failed" : "ok");
  }

  function sleep(ms) { return new Promise(function (done) { setTimeout(done, ms); }); }

  function errorText(data, response) {
    if (data && data.error) return data.error.message + " [" + data.error.code + "]";
    return "the service answered " + response.status;
  }

  function call(method, url, body) {
    return fetch(url, { method: method, body: body, credentials: "omit", cache: "no-store" })
      .then(function (response) {
        return response.json().catch(function () { return null; }).then(function (data) {
          if (!response.ok) throw new Error(errorText(data, response));
          return data;
        });
      });
  }

  function recorderType() {
    if (!window.MediaRecorder) return null;
    for (var i = 0; i < TYPES.length; i++) {
      if (MediaRecorder.isTypeSupported(TYPES[i])) return TYPES[i];
    }
    return "";
  }

  function showPrompt(prompt) {
    var box = $("prompt");
    box.textContent = prompt.text;
    box.hidden = false;
    setTimeout(function () { if (box.textContent === prompt.text) box.hidden = true; },
               prompt.show_seconds * 1000);
  }

  // Records for plan.duration_seconds; resolves with {blob, shown, type}.
  function record(stream, plan, type) {
    return new Promise(function (resolve, reject) {
      var chunks = [], shown = [], timers = [], started = 0;
      var recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
      recorder.ondataavailable = function (event) { if (event.data.size) chunks.push(event.data); };
      recorder.onerror = function (event) { reject(event.error || new Error("recording failed")); };
      recorder.onstart = function () {
        started = performance.now();
        plan.prompts.forEach(function (prompt) {
          timers.push(setTimeout(function () {
            showPrompt(prompt);
            shown.push({ id: prompt.id, shown_at: (performance.now() - started) / 1000 });
          }, prompt.at_seconds * 1000));
        });
        var tick = setInterval(function () {
          var left = plan.duration_seconds - (performance.now() - started) / 1000;
          $("timer").textContent = Math.max(0, Math.ceil(left)) + " s";
        }, 250);
        timers.push(setTimeout(function () { clearInterval(tick); recorder.stop(); },
                               plan.duration_seconds * 1000));
      };
      recorder.onstop = function () {
        timers.forEach(clearTimeout);
        var seconds = (performance.now() - started) / 1000;
        resolve({ blob: new Blob(chunks, { type: recorder.mimeType || type || "video/webm" }),
                  shown: shown, type: recorder.mimeType || type, seconds: seconds });
      };
      recorder.start(1000);
    });
  }

  function waitForDecision() {
    return call("GET", config.status_url).then(function (state) {
      if (state.status === "verifying") return sleep(POLL_MS).then(waitForDecision);
      return state;
    });
  }

  var MESSAGES = {
    granted: "Thank you: your consent is recorded and verified.",
    review: "Thank you: your recording is stored and a compliance officer will review it.",
    rejected: "The recording could not be verified. The organisation that sent you this " +
              "link can see why and may ask you to record again."
  };

  async function run() {
    $("start").disabled = true;
    var type = recorderType();
    if (type === null || !navigator.mediaDevices) {
      say("This browser cannot record video here. Please use a recent browser.", true);
      return;
    }
    // The prompts are revealed only now; recording starts as soon as the camera is on.
    var plan = await call("POST", config.start_url);
    say("Asking for your camera and microphone…");
    var stream = await navigator.mediaDevices.getUserMedia(
      { video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: true });
    $("preview").srcObject = stream;
    document.body.classList.add("recording");
    say("Recording. Read the text aloud and follow the instructions on the picture.");
    var result = await record(stream, plan, type);
    stream.getTracks().forEach(function (track) { track.stop(); });
    document.body.classList.remove("recording");
    $("prompt").hidden = true;
    say("Uploading your recording…");
    var form = new FormData();
    form.append("recording", result.blob, "consent." + (/mp4/.test(result.type) ? "mp4" : "webm"));
    form.append("timeline", JSON.stringify({ prompts: result.shown, mime_type: result.type,
                                             recorded_seconds: result.seconds }));
    await call("POST", config.upload_url, form);
    say("Uploaded. Checking your recording…");
    var state = await waitForDecision();
    document.body.setAttribute("data-decision", state.status);
    say(MESSAGES[state.status] || ("Status: " + state.status), state.status === "rejected");
    if (state.subject_link) showSubjectLink(state.subject_link);
  }

  // Shown once: the subject's own page, to see every video made and to revoke.
  function showSubjectLink(url) {
    var note = document.createElement("p");
    note.id = "subject-link";
    note.appendChild(document.createTextNode(
      "Keep this private link: it lists every video made under your consent and lets you " +
      "revoke it at any time. It is shown only now. "));
    var anchor = document.createElement("a");
    anchor.href = url;
    anchor.textContent = url;
    note.appendChild(anchor);
    $("status").parentNode.appendChild(note);
  }

  $("start").addEventListener("click", function () {
    run().catch(function (error) {
      say("Something went wrong: " + (error && error.message ? error.message : error), true);
      document.body.setAttribute("data-decision", "error");
    });
  });
})();
