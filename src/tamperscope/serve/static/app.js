// The tamperscope page: upload, follow the analysis, show its report, keep the history.
// The report itself (photo, overlay, opacity, layer toggles, regions, explanation, metadata, provenance) is the
// self-contained report.html the analysis wrote, shown in a sandboxed frame: one presentation for the page, the
// download and the command line.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var POLL_MS = 400;
  var current = null;  // the analysis shown

  // The label's words come from the server (label_words: the same words as every report); the name is a fallback.
  function labelWords(job) { return job.label_words || job.label || ""; }
  function percent(value) { return value === null || value === undefined ? "not checked" : value.toFixed(2); }
  var WHY = {
    401: "This server needs an access token.",
    408: "The upload was too slow and the server gave up on it.",
    413: "The image is too large for this server.",
    415: "This file is not an image tamperscope can read.",
    422: "The server could not read this upload.",
    429: "Too many requests: please wait a moment.",
    503: "The server is busy: please try again shortly."
  };

  function token() { return sessionStorage.getItem("tamperscope-token") || ""; }
  function authHeaders() { return token() ? { "Authorization": "Bearer " + token() } : {}; }

  function explain(status, body) {
    var lead = WHY[status] || ("The server answered " + status + ".");
    var detail = body && body.message ? " " + capital(body.message) + "." : "";
    return lead + detail;
  }
  function capital(text) { return text.charAt(0).toUpperCase() + text.slice(1); }

  function showError(message) {
    $("error").textContent = message;
    $("error").hidden = !message;
  }

  function needToken(status) {
    if (status === 401) { $("token-panel").hidden = false; $("token").focus(); }
  }

  function api(path) {
    return fetch(path, { headers: authHeaders() }).then(function (response) {
      if (response.ok) { return response; }
      return response.json().catch(function () { return null; }).then(function (body) {
        needToken(response.status);
        var error = new Error(explain(response.status, body));
        error.status = response.status;
        throw error;
      });
    });
  }

  function setProgress(text, value) {
    $("progress-panel").hidden = false;
    $("status-text").textContent = text;
    if (value === null) { $("progress").removeAttribute("value"); } else { $("progress").value = value; }
  }

  function upload(file) {
    showError("");
    $("result").hidden = true;
    var form = new FormData();
    form.append("file", file, file.name);
    var request = new XMLHttpRequest();
    request.open("POST", "/v1/analyses");
    var headers = authHeaders();
    Object.keys(headers).forEach(function (name) { request.setRequestHeader(name, headers[name]); });
    request.upload.onprogress = function (event) {
      if (event.lengthComputable) {
        setProgress("Uploading " + file.name + "… " + Math.round(100 * event.loaded / event.total) + "%",
                    Math.round(50 * event.loaded / event.total));
      }
    };
    request.onload = function () {
      var body = null;
      try { body = JSON.parse(request.responseText); } catch (ignored) { body = null; }
      if (request.status === 202 && body) {
        follow(body.id);
      } else {
        $("progress-panel").hidden = true;
        needToken(request.status);
        showError(explain(request.status, body));
      }
    };
    request.onerror = function () {
      $("progress-panel").hidden = true;
      showError("The upload did not reach the server (connection lost).");
    };
    setProgress("Uploading " + file.name + "…", 0);
    request.send(form);
  }

  function follow(id) {
    api("/v1/analyses/" + id).then(function (response) { return response.json(); }).then(function (job) {
      if (job.status === "queued") {
        setProgress("Waiting for a free worker…", 55);
      } else if (job.status === "running") {
        setProgress("Analysing " + job.filename + "…", null);
      }
      if (job.status === "done") {
        setProgress("Done.", 100);
        show(job);
        loadHistory();
      } else if (job.status === "failed") {
        $("progress-panel").hidden = true;
        showError("The analysis failed: " + (job.error || "unknown reason") + ".");
        loadHistory();
      } else {
        setTimeout(function () { follow(id); }, POLL_MS);
      }
    }).catch(function (error) {
      $("progress-panel").hidden = true;
      showError(error.message);
    });
  }

  function show(job) {
    current = job;
    var summary = $("summary");
    summary.textContent = "";
    var label = document.createElement("span");
    label.className = "label-" + (job.label || "inconclusive");
    label.textContent = labelWords(job);
    summary.appendChild(label);
    var detail;
    if (job.class_scores) {
      detail = ["edited", "ai-generated", "ai-edited", "no-manipulation"].map(function (name) {
        return name + " " + percent(job.class_scores[name]);
      }).join(", ");
      detail = "probabilities: " + detail;
    } else {
      detail = "manipulation score " + (job.score === null || job.score === undefined ? "n/a" : job.score.toFixed(2));
    }
    summary.appendChild(document.createTextNode(" · " + job.filename + " · " + detail));
    return api(job.links.html).then(function (response) { return response.text(); }).then(function (html) {
      $("report").srcdoc = html;
      $("result").hidden = false;
      $("progress-panel").hidden = true;
    }).catch(function (error) { showError(error.message); });
  }

  function download(which) {
    if (!current) { return; }
    var link = which === "html" ? current.links.html : current.links.report;
    var stem = current.filename.replace(/\.[^.]*$/, "") || "image";
    api(link).then(function (response) { return response.blob(); }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      var anchor = document.createElement("a");
      anchor.href = url;
      anchor.download = stem + "-report." + (which === "html" ? "html" : "json");
      document.body.appendChild(anchor);
      anchor.click();
      anchor.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
    }).catch(function (error) { showError(error.message); });
  }

  // Object URLs of the history's previews: fetched with the token (an <img src> cannot send it), freed on redraw.
  var previewUrls = [];

  function preview(job) {
    var frame = document.createElement("span");
    frame.className = "thumb";
    if (!job.links || !job.links.preview) {
      frame.className = "thumb none";
      return frame;
    }
    var image = document.createElement("img");
    image.alt = "Preview of " + job.filename;
    frame.appendChild(image);
    api(job.links.preview).then(function (response) { return response.blob(); }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      previewUrls.push(url);
      image.src = url;
    }).catch(function () { frame.className = "thumb none"; });
    return frame;
  }

  function loadHistory() {
    api("/v1/analyses?limit=50").then(function (response) { return response.json(); }).then(function (list) {
      var items = $("history");
      items.textContent = "";
      previewUrls.forEach(function (url) { URL.revokeObjectURL(url); });
      previewUrls = [];
      $("history-empty").hidden = list.items.length > 0;
      list.items.forEach(function (job) {
        var item = document.createElement("li");
        var button = document.createElement("button");
        button.type = "button";
        button.setAttribute("data-id", job.id);
        var name = document.createElement("span");
        name.className = "name";
        name.textContent = job.filename;
        var status = document.createElement("span");
        var word = job.status === "done" ? labelWords(job) : job.status;
        status.className = "status " + (job.status === "done" ? job.label : job.status);
        status.textContent = word;
        var when = document.createElement("span");
        when.className = "when";
        when.textContent = new Date(job.created_at * 1000).toLocaleString();
        button.appendChild(preview(job));
        button.appendChild(name);
        button.appendChild(status);
        button.appendChild(when);
        button.addEventListener("click", function () {
          showError("");
          if (job.status === "failed") { showError("This analysis failed: " + job.error + "."); return; }
          follow(job.id);
        });
        item.appendChild(button);
        items.appendChild(item);
      });
    }).catch(function (error) { if (error.status !== 401) { showError(error.message); } });
  }

  var drop = $("drop");
  ["dragenter", "dragover"].forEach(function (name) {
    drop.addEventListener(name, function (event) { event.preventDefault(); drop.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    drop.addEventListener(name, function (event) { event.preventDefault(); drop.classList.remove("over"); });
  });
  drop.addEventListener("drop", function (event) {
    var files = event.dataTransfer && event.dataTransfer.files;
    if (files && files.length) { upload(files[0]); }
  });
  $("file").addEventListener("change", function () {
    if (this.files.length) { upload(this.files[0]); }
    this.value = "";
  });
  $("download-html").addEventListener("click", function () { download("html"); });
  $("download-json").addEventListener("click", function () { download("json"); });
  $("token-form").addEventListener("submit", function (event) {
    event.preventDefault();
    sessionStorage.setItem("tamperscope-token", $("token").value.trim());
    $("token-panel").hidden = true;
    showError("");
    loadHistory();
  });
  loadHistory();
})();
