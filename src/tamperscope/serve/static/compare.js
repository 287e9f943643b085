// Compare two versions: pick or drop the original and the suspect, POST both, show the comparison's own page.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var chosen = { original: null, suspect: null };
  var current = null;
  var LABELS = { changed: "Changed", unchanged: "Unchanged", "not-comparable": "Not comparable" };

  function token() { return sessionStorage.getItem("tamperscope-token") || ""; }
  function headers() { return token() ? { "Authorization": "Bearer " + token() } : {}; }
  function showError(message) { $("compare-error").textContent = message; $("compare-error").hidden = !message; }

  function pick(role, file) {
    chosen[role] = file;
    var zone = $("drop-" + role);
    zone.querySelector(".picked").textContent = file ? file.name : "none yet";
    $("compare-button").disabled = !(chosen.original && chosen.suspect);
  }

  ["original", "suspect"].forEach(function (role) {
    var zone = $("drop-" + role);
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (event) {
      var files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) { return; }
      if (files.length >= 2) { pick("original", files[0]); pick("suspect", files[1]); } else { pick(role, files[0]); }
    });
    $("file-" + role).addEventListener("change", function () {
      if (this.files.length) { pick(role, this.files[0]); }
      this.value = "";
    });
  });

  function fetchText(path) {
    return fetch(path, { headers: headers() }).then(function (response) {
      if (!response.ok) { throw new Error("The server answered " + response.status + "."); }
      return response;
    });
  }

  $("compare-button").addEventListener("click", function () {
    if (!(chosen.original && chosen.suspect)) { return; }
    showError("");
    $("compare-result").hidden = true;
    $("compare-button").disabled = true;
    $("compare-status").textContent = "Comparing " + chosen.suspect.name + " with " + chosen.original.name + "…";
    var form = new FormData();
    form.append("original", chosen.original, chosen.original.name);
    form.append("suspect", chosen.suspect, chosen.suspect.name);
    fetch("/v1/comparisons", { method: "POST", body: form, headers: headers() }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (body) {
        if (response.status !== 201 || !body) {
          var detail = body && body.message ? " " + body.message + "." : "";
          throw new Error("The comparison failed (" + response.status + ")." + detail);
        }
        return body;
      });
    }).then(function (body) {
      current = body;
      var summary = $("compare-summary");
      summary.textContent = "";
      var label = document.createElement("span");
      label.className = "label-" + body.label;
      label.textContent = LABELS[body.label] || body.label;
      summary.appendChild(label);
      summary.appendChild(document.createTextNode(" · " + body.suspect + " against " + body.original + " · " +
        body.regions.length + " region(s)"));
      return fetchText(body.links.html).then(function (response) { return response.text(); });
    }).then(function (html) {
      $("compare-report").srcdoc = html;
      $("compare-result").hidden = false;
      $("compare-status").textContent = "";
    }).catch(function (error) {
      $("compare-status").textContent = "";
      showError(error.message);
    }).then(function () { $("compare-button").disabled = !(chosen.original && chosen.suspect); });
  });

  function download(which) {
    if (!current) { return; }
    var link = which === "html" ? current.links.html : current.links.report;
    fetchText(link).then(function (response) { return response.blob(); }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      var anchor = document.createElement("a");
      anchor.href = url;
      anchor.download = "comparison-report." + (which === "html" ? "html" : "json");
      document.body.appendChild(anchor);
      anchor.click();
      anchor.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
    }).catch(function (error) { showError(error.message); });
  }
  $("compare-download-html").addEventListener("click", function () { download("html"); });
  $("compare-download-json").addEventListener("click", function () { download("json"); });
})();
