/*
 * The `naflow serve` page: choose or drop an image, a model, a mode and baselines; upload it, follow the
 * job's server-sent events (queue position, layers done) and show the result with the report's viewer
 * (NaflowViewer, viewer.js). Talks only to its own server: /api/models, /api/explain, /api/jobs/….
 */
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var form = $('app-form'), file = $('app-file'), drop = $('app-drop'), thumb = $('app-thumb');
  var model = $('app-model'), mode = $('app-mode'), go = $('app-go'), status = $('app-status');
  var downloads = $('app-downloads'), viewerRoot = $('naflow-viewer');
  var chosen = null, viewer = null, events = null, busy = false;

  function say(text, error) {
    status.textContent = text;
    status.classList.toggle('error', !!error);
  }
  function refresh() { go.disabled = !chosen || busy || !model.value; }

  fetch('/api/models')
    .then(function (r) { return r.json(); })
    .then(function (list) {
      list.forEach(function (m) {
        var o = document.createElement('option');
        o.value = m.id;
        o.textContent = m.name + (m.kind === 'bundled' ? ' · bundled' : '');
        model.appendChild(o);
      });
      refresh();
    })
    .catch(function (e) { say('cannot list the models: ' + e.message, true); });

  function choose(f) {
    if (!f) return;
    chosen = f;
    if (thumb.src) URL.revokeObjectURL(thumb.src);
    thumb.src = URL.createObjectURL(f);
    thumb.alt = 'chosen image ' + f.name;
    thumb.hidden = false;
    say(f.name + ' (' + Math.round(f.size / 1024) + ' KB): press Explain.');
    refresh();
  }
  file.addEventListener('change', function () { choose(file.files[0]); });
  ['dragenter', 'dragover'].forEach(function (ev) {
    drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.add('over'); });
  });
  ['dragleave', 'drop'].forEach(function (ev) {
    drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.remove('over'); });
  });
  drop.addEventListener('drop', function (e) {
    if (e.dataTransfer && e.dataTransfer.files.length) choose(e.dataTransfer.files[0]);
  });
  drop.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); file.click(); }
  });
  drop.tabIndex = 0;
  model.addEventListener('change', refresh);

  function done(state) {
    busy = false;
    refresh();
    if (events) events.close();
    events = null;
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    if (!chosen || busy) return;
    busy = true;
    refresh();
    downloads.hidden = true;
    if (viewer) viewer.destroy();
    viewer = null;
    var compare = Array.prototype.filter.call(form.querySelectorAll('#app-compare input:checked'), function () { return true; }).map(function (c) { return c.value; });
    var q = 'model=' + encodeURIComponent(model.value) + '&mode=' + encodeURIComponent(mode.value) + '&compare=' + encodeURIComponent(compare.join(',')) + '&name=' + encodeURIComponent(chosen.name);
    say('uploading ' + chosen.name + '…');
    fetch('/api/explain?' + q, { method: 'POST', headers: { 'Content-Type': chosen.type || 'application/octet-stream' }, body: chosen })
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error(body.error || 'HTTP ' + r.status);
          return body;
        });
      })
      .then(function (job) { follow(job); })
      .catch(function (err) {
        say('refused: ' + err.message, true);
        done();
      });
  });

  function follow(job) {
    var bar = document.createElement('progress');
    bar.max = 1;
    bar.value = 0;
    events = new EventSource(job.events);
    events.onmessage = function (ev) {
      var s = JSON.parse(ev.data);
      if (s.status === 'queued') say('waiting in the queue: position ' + s.position);
      else if (s.status === 'running') {
        var p = s.progress;
        status.classList.remove('error');
        status.textContent = '';
        if (!p) status.textContent = 'starting…';
        else {
          bar.max = p.total || 1;
          bar.value = p.done;
          var what = p.stage === 'naflow' ? 'NAFlow: layer ' + p.done + ' of ' + p.total + (p.layer ? ' (' + p.layer + ')' : '') : p.stage === 'compare' ? 'baseline ' + (p.done + 1) + ' of ' + p.total + ': ' + p.layer : 'writing the report…';
          status.appendChild(bar);
          status.appendChild(document.createTextNode(' ' + what));
        }
      } else if (s.status === 'error') {
        say('the explanation failed: ' + (s.message || 'unknown error'), true);
        done();
      } else if (s.status === 'done') {
        done();
        say('loading the flow…');
        fetch(s.links.data)
          .then(function (r) { return r.json(); })
          .then(function (data) {
            viewer = NaflowViewer.mount(viewerRoot, data);
            return viewer.ready;
          })
          .then(function () {
            $('app-report').href = s.links.report;
            $('app-maps').href = s.links.maps;
            downloads.hidden = false;
            var d = viewerRoot.querySelector('.nv-facts dd');
            say('done: ' + (d ? d.textContent : '') + ' — move the slider or press ← →.');
            viewerRoot.setAttribute('data-job', s.id);
          })
          .catch(function (err) { say('cannot show the result: ' + err.message, true); });
      }
    };
    events.onerror = function () {
      if (busy) say('lost the progress stream; retrying…', true);
    };
  }
})();
