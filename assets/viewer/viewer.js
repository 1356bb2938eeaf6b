/*
 * naflow viewer: draws an attention flow (raw maps, one per layer, shallow → deep) on canvases in the
 * browser. Used as is by report.html (`naflow explain --html`, `naflow eval --html`) and by the
 * `naflow serve` app. No dependencies and no network: everything comes from the data object.
 *
 *   const v = NaflowViewer.mount(element, data);   // data: see src/viewer/data.ts (ViewerData)
 *   v.setLayer(3); v.destroy();
 *
 * Rendering follows naflow's own PNGs (src/render): min–max normalisation, (m − min) / (max − min + 1e-10),
 * per layer or shared by all layers of a method; bilinear resize with half-pixel centres (OpenCV's);
 * colour table index floor(255·t); blend alpha·colour + beta·image with alpha = opacity and
 * beta = min(1, (1 − opacity)·4/3), which is the CLI's 0.4·colour + 0.8·image at the default opacity 0.4.
 */
(function () {
  'use strict';

  var EPS = 1e-10;

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs)
      Object.keys(attrs).forEach(function (k) {
        if (k === 'text') e.textContent = attrs[k];
        else if (k === 'class') e.className = attrs[k];
        else e.setAttribute(k, attrs[k]);
      });
    (children || []).forEach(function (c) {
      if (c) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return e;
  }

  function b64bytes(s) {
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  /** A layer's raw map as a Float32Array ('f32': little-endian float32; 'u8': min + q/255·(max − min)). */
  function decodeMap(l) {
    if (l._values) return l._values;
    var bytes = b64bytes(l.data);
    var v;
    if (l.enc === 'u8') {
      v = new Float32Array(bytes.length);
      var span = l.max - l.min;
      for (var i = 0; i < bytes.length; i++) v[i] = l.min + (bytes[i] / 255) * span;
    } else {
      var dv = new DataView(bytes.buffer);
      v = new Float32Array(bytes.length / 4);
      for (var j = 0; j < v.length; j++) v[j] = dv.getFloat32(4 * j, true);
    }
    l._values = v;
    return v;
  }

  /** Half-pixel-centre bilinear taps (OpenCV INTER_LINEAR, clamped at the edges). */
  function taps(inSize, outSize) {
    var scale = inSize / outSize;
    var i0 = new Int32Array(outSize), i1 = new Int32Array(outSize), w1 = new Float32Array(outSize);
    for (var d = 0; d < outSize; d++) {
      var fx = (d + 0.5) * scale - 0.5;
      var sx = Math.floor(fx);
      fx -= sx;
      if (sx < 0) { fx = 0; sx = 0; }
      if (sx >= inSize - 1) { fx = 0; sx = inSize - 1; }
      i0[d] = sx;
      i1[d] = Math.min(sx + 1, inSize - 1);
      w1[d] = fx;
    }
    return { i0: i0, i1: i1, w1: w1 };
  }

  /**
   * Draw one map into `out` (RGBA ImageData of w×h): normalised with `range`, resized, coloured with
   * `lut` (768 bytes) and blended onto `base` (RGBA pixels of the image at w×h, or null: the map alone).
   */
  function paint(out, w, h, base, values, lh, lw, range, lut, opacity) {
    var min = range.min, denom = range.max - range.min + EPS;
    var n = new Float32Array(values.length);
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      var t = isFinite(v) ? (v - min) / denom : 0;
      n[i] = t < 0 ? 0 : t > 1 ? 1 : t;
    }
    var tx = taps(lw, w), ty = taps(lh, h);
    var alpha = base ? opacity : 1;
    var beta = base ? Math.min(1, (1 - opacity) * 4 / 3) : 0;
    var px = out.data;
    for (var y = 0; y < h; y++) {
      var r0 = ty.i0[y] * lw, r1 = ty.i1[y] * lw, fy = ty.w1[y];
      for (var x = 0; x < w; x++) {
        var a0 = tx.i0[x], a1 = tx.i1[x], fx = tx.w1[x];
        var top = n[r0 + a0] * (1 - fx) + n[r0 + a1] * fx;
        var bot = n[r1 + a0] * (1 - fx) + n[r1 + a1] * fx;
        var val = top * (1 - fy) + bot * fy;
        var k = Math.floor(val * 255);
        k = k > 255 ? 255 : k < 0 ? 0 : k;
        var o = 4 * (y * w + x);
        var c = 3 * k;
        if (base) {
          px[o] = alpha * lut[c] + beta * base[o];
          px[o + 1] = alpha * lut[c + 1] + beta * base[o + 1];
          px[o + 2] = alpha * lut[c + 2] + beta * base[o + 2];
        } else {
          px[o] = lut[c];
          px[o + 1] = lut[c + 1];
          px[o + 2] = lut[c + 2];
        }
        px[o + 3] = 255;
      }
    }
  }

  function rangeOf(values) {
    var min = Infinity, max = -Infinity;
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      if (!isFinite(v)) continue;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    return min === Infinity ? { min: 0, max: 0 } : { min: min, max: max };
  }

  function fmt(v, digits) {
    if (v === null || v === undefined || !isFinite(v)) return '–';
    var a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
    return String(Number(v.toFixed(digits === undefined ? 4 : digits)));
  }

  var uid = 0;

  function mount(root, data) {
    uid++;
    var id = function (s) { return 'nv' + uid + '-' + s; };
    root.classList.add('nv-root');
    root.textContent = '';
    var listeners = [];
    function on(target, ev, fn) {
      target.addEventListener(ev, fn);
      listeners.push([target, ev, fn]);
    }

    var meta = data.layers || [];
    var flows = data.flows || [];
    var n = meta.length;
    // a layer's own index (its maps/ file number): 1×1 layers may be left out, so positions can skip
    function layerIndex(i) { return meta[i] && typeof meta[i].index === 'number' ? meta[i].index : i; }
    var luts = {};
    Object.keys(data.colormaps || {}).forEach(function (k) { luts[k] = b64bytes(data.colormaps[k]); });
    var cmapNames = Object.keys(luts);
    var defaults = data.defaults || {};
    var state = {
      layer: n ? n - 1 : 0,
      normalize: defaults.normalize === 'global' ? 'global' : 'layer',
      colormap: luts[defaults.colormap] ? defaults.colormap : cmapNames[0],
      opacity: typeof defaults.opacity === 'number' ? defaults.opacity : 0.4,
      // a report made with baselines opens side by side with the first of them
      compare: typeof defaults.compare === 'string' ? defaults.compare : flows.length > 1 ? flows[1].method : '',
      playing: false,
      fps: 4,
    };
    var timer = null;

    // ---- header: input and decision ----
    var d = data.decision;
    var header = el('section', { class: 'nv-header', 'aria-label': 'Input and decision' });
    if (data.image) {
      var inImg = el('img', { class: 'nv-input', src: data.image.src, alt: 'input image' + (data.image.file ? ' ' + data.image.file : ''), width: String(data.image.width), height: String(data.image.height) });
      header.appendChild(el('figure', { class: 'nv-input-fig' }, [inImg, el('figcaption', { text: 'input ' + data.image.width + '×' + data.image.height }) ]));
    }
    var facts = el('dl', { class: 'nv-facts' });
    function fact(k, v, vid) {
      facts.appendChild(el('dt', { text: k }));
      facts.appendChild(el('dd', vid ? { text: v, id: vid } : { text: v }));
    }
    if (d) {
      fact('decision', (d.label ? d.label + ' ' : '') + '(class ' + d.classIndex + (d.id ? ', ' + d.id : '') + ')', id('decision'));
      fact('score (logit)', fmt(d.score));
    }
    if (data.model) fact('model', data.model.name || data.model.file || '–');
    if (data.mode) fact('mode', data.mode + (data.elapsedMs ? ' · ' + fmt(data.elapsedMs / 1000, 2) + ' s' : ''));
    if (data.image && data.image.file) fact('image', data.image.file);
    if (n) fact('layers', String(n) + ' (shallow → deep)');
    if (d || data.model) {
      header.appendChild(facts);
      root.appendChild(header);
    }

    if (!n || !flows.length) {
      appendEval(root, data);
      return { destroy: destroy, setLayer: function () {}, state: state };
    }

    // ---- controls ----
    var controls = el('section', { class: 'nv-controls', 'aria-label': 'Viewer controls' });
    var slider = el('input', { type: 'range', id: id('layer'), class: 'nv-layer', min: '0', max: String(n - 1), step: '1', value: String(state.layer), 'aria-describedby': id('layer-out') });
    var sliderOut = el('output', { id: id('layer-out'), for: id('layer'), class: 'nv-layer-out', 'aria-live': 'polite' });
    var prev = el('button', { type: 'button', class: 'nv-prev', 'aria-label': 'previous layer (←)', title: 'previous layer (←)', text: '◀' });
    var play = el('button', { type: 'button', class: 'nv-play', 'aria-pressed': 'false', title: 'play / pause (space)', text: '▶ play' });
    var next = el('button', { type: 'button', class: 'nv-next', 'aria-label': 'next layer (→)', title: 'next layer (→)', text: '▶' });
    controls.appendChild(el('div', { class: 'nv-scrub' }, [el('label', { for: id('layer'), text: 'Layer (shallow → deep)' }), prev, slider, next, play, sliderOut]));

    var speed = el('select', { id: id('speed'), class: 'nv-speed' });
    [1, 2, 4, 8, 16].forEach(function (f) { speed.appendChild(el('option', f === state.fps ? { value: String(f), text: f + ' layers/s', selected: '' } : { value: String(f), text: f + ' layers/s' })); });

    var normGroup = el('fieldset', { class: 'nv-norm' }, [el('legend', { text: 'Normalisation' })]);
    [['layer', 'per layer'], ['global', 'shared by all layers']].forEach(function (o) {
      var rid = id('norm-' + o[0]);
      var input = el('input', { type: 'radio', name: id('norm'), id: rid, value: o[0] });
      if (state.normalize === o[0]) input.checked = true;
      normGroup.appendChild(el('span', {}, [input, el('label', { for: rid, text: o[1] })]));
    });

    var cmap = el('select', { id: id('cmap'), class: 'nv-cmap' });
    cmapNames.forEach(function (c) { cmap.appendChild(el('option', c === state.colormap ? { value: c, text: c, selected: '' } : { value: c, text: c })); });
    var opacity = el('input', { type: 'range', id: id('opacity'), class: 'nv-opacity', min: '0', max: '100', step: '1', value: String(Math.round(state.opacity * 100)) });
    var opacityOut = el('output', { for: id('opacity'), text: Math.round(state.opacity * 100) + ' %' });
    var row2 = el('div', { class: 'nv-row' }, [
      el('span', {}, [el('label', { for: id('speed'), text: 'Speed' }), speed]),
      normGroup,
      el('span', {}, [el('label', { for: id('cmap'), text: 'Colour map' }), cmap]),
      el('span', {}, data.image ? [el('label', { for: id('opacity'), text: 'Opacity' }), opacity, opacityOut] : []),
    ]);
    var compare = null;
    if (flows.length > 1) {
      compare = el('select', { id: id('compare'), class: 'nv-compare' });
      compare.appendChild(el('option', { value: '', text: 'none' }));
      flows.slice(1).forEach(function (f) { compare.appendChild(el('option', f.method === state.compare ? { value: f.method, text: f.label || f.method, selected: '' } : { value: f.method, text: f.label || f.method })); });
      row2.appendChild(el('span', {}, [el('label', { for: id('compare'), text: 'Side by side with' }), compare]));
    }
    controls.appendChild(row2);
    root.appendChild(controls);

    // ---- canvases and layer facts ----
    var W = data.image ? data.image.width : 0, H = data.image ? data.image.height : 0;
    if (!data.image) meta.forEach(function (m) { W = Math.max(W, m.shape[1]); H = Math.max(H, m.shape[0]); });
    var scaleUp = Math.max(1, Math.floor(448 / Math.max(W, H)));
    function panel(cls, title) {
      var cv = el('canvas', { class: 'nv-canvas ' + cls, width: String(W), height: String(H), role: 'img' });
      cv.style.width = W * scaleUp + 'px';
      var cap = el('figcaption', { class: 'nv-cap', text: title });
      var fig = el('figure', { class: 'nv-panel' }, [cv, cap]);
      return { canvas: cv, cap: cap, fig: fig, ctx: cv.getContext('2d') };
    }
    var mainPanel = panel('nv-main', flows[0].label || flows[0].method);
    var sidePanel = panel('nv-side', '');
    sidePanel.fig.hidden = true;
    var info = el('dl', { class: 'nv-info', 'aria-live': 'polite' });
    var infoRows = {};
    ['layer', 'tensor', 'node', 'op', 'shape', 'kept', 'solver', 'range'].forEach(function (k) {
      info.appendChild(el('dt', { text: k === 'range' ? 'map min / max' : k === 'kept' ? 'kept fraction' : k === 'solver' ? 'solver residual' : k }));
      var dd = el('dd', { class: 'nv-info-' + k });
      infoRows[k] = dd;
      info.appendChild(dd);
    });
    var stage = el('section', { class: 'nv-stage', 'aria-label': 'Attention map at the chosen layer' }, [el('div', { class: 'nv-panels' }, [mainPanel.fig, sidePanel.fig]), info]);
    root.appendChild(stage);
    var colorbar = el('canvas', { class: 'nv-colorbar', width: '256', height: '10', role: 'img', 'aria-label': 'colour scale, low to high' });
    root.appendChild(el('div', { class: 'nv-colorbar-row' }, [el('span', { text: 'low' }), colorbar, el('span', { text: 'high' })]));

    // ---- film strip ----
    var strip = el('section', { class: 'nv-strip', 'aria-label': 'All layers, shallow → deep (click to choose)' });
    var TH = 64, TW = Math.max(16, Math.round((TH * W) / H));
    var thumbs = meta.map(function (m, i) {
      var cv = el('canvas', { width: String(TW), height: String(TH) });
      var k = layerIndex(i);
      var b = el('button', { type: 'button', class: 'nv-thumb', 'aria-label': 'layer ' + k + ' ' + m.op + ' ' + m.shape.join('×'), title: k + ' ' + m.name + ' (' + m.op + ', ' + m.shape.join('×') + ')' }, [cv, el('span', { text: String(k) })]);
      b.addEventListener('click', function () { stop(); setLayer(i); });
      strip.appendChild(b);
      return { button: b, ctx: cv.getContext('2d') };
    });
    root.appendChild(strip);
    appendEval(root, data);

    // ---- image pixels at the two sizes ----
    var basePixels = null, thumbPixels = null;
    function pixelsOf(img, w, h) {
      var c = document.createElement('canvas');
      c.width = w;
      c.height = h;
      var g = c.getContext('2d');
      g.drawImage(img, 0, 0, w, h);
      return g.getImageData(0, 0, w, h).data;
    }

    var globalRanges = {};
    function flowRange(f) {
      if (!globalRanges[f.method]) {
        var min = Infinity, max = -Infinity;
        f.layers.forEach(function (l) {
          if (!l) return;
          var r = rangeOf(decodeMap(l));
          if (r.min < min) min = r.min;
          if (r.max > max) max = r.max;
        });
        globalRanges[f.method] = min === Infinity ? { min: 0, max: 0 } : { min: min, max: max };
      }
      return globalRanges[f.method];
    }
    function rangeFor(f, l) {
      return state.normalize === 'global' ? flowRange(f) : rangeOf(decodeMap(l));
    }
    function draw(p, f, i, w, h, base) {
      var l = f.layers[i];
      var g = p.ctx || p;
      if (!l) {
        g.fillStyle = '#888';
        g.fillRect(0, 0, w, h);
        return false;
      }
      var out = g.createImageData(w, h);
      paint(out, w, h, base, decodeMap(l), l.h, l.w, rangeFor(f, l), luts[state.colormap], state.opacity);
      g.putImageData(out, 0, 0);
      return true;
    }
    function flowByMethod(m) {
      for (var i = 0; i < flows.length; i++) if (flows[i].method === m) return flows[i];
      return null;
    }

    function render() {
      var i = state.layer;
      var m = meta[i];
      root.setAttribute('data-layer', String(i));
      slider.value = String(i);
      sliderOut.textContent = layerIndex(i) + ' / ' + layerIndex(n - 1) + ' · ' + m.op + ' ' + m.shape.join('×');
      draw(mainPanel, flows[0], i, W, H, basePixels);
      mainPanel.canvas.setAttribute('aria-label', (flows[0].label || flows[0].method) + ' map at layer ' + layerIndex(i) + ' (' + m.name + ')');
      var other = state.compare ? flowByMethod(state.compare) : null;
      sidePanel.fig.hidden = !other;
      root.classList.toggle('nv-compare-on', !!other);
      if (other) {
        var ok = draw(sidePanel, other, i, W, H, basePixels);
        sidePanel.cap.textContent = (other.label || other.method) + (ok ? '' : ' (no map at this layer)');
        sidePanel.canvas.setAttribute('aria-label', (other.label || other.method) + ' map at layer ' + i);
      }
      infoRows.layer.textContent = i + ' of ' + (n - 1);
      infoRows.tensor.textContent = m.name;
      infoRows.node.textContent = m.node;
      infoRows.op.textContent = m.op + (m.sourceOp && m.sourceOp !== m.op ? ' (' + m.sourceOp + ')' : '');
      infoRows.shape.textContent = m.shape.join(' × ') + ' (H × W × C)';
      infoRows.kept.textContent = fmt(m.kept * 100, 1) + ' %';
      infoRows.solver.textContent = m.solver
        ? fmt(m.solver.residual, 4) + ' (max of ' + m.solver.solves + ' solve' + (m.solver.solves === 1 ? '' : 's') + ', ' + m.solver.iterations + ' iterations' + (m.solver.method ? ', ' + m.solver.method : '') + ')'
        : 'no solve at this layer';
      var l0 = flows[0].layers[i];
      var r = l0 ? rangeFor(flows[0], l0) : null;
      infoRows.range.textContent = l0 ? fmt(l0.min) + ' / ' + fmt(l0.max) + (state.normalize === 'global' ? ' (shown on the shared scale ' + fmt(r.min) + ' … ' + fmt(r.max) + ')' : '') : '–';
      thumbs.forEach(function (t, k) {
        t.button.classList.toggle('nv-current', k === i);
        if (k === i) t.button.setAttribute('aria-current', 'true');
        else t.button.removeAttribute('aria-current');
      });
    }
    function renderThumbs() {
      thumbs.forEach(function (t, k) { draw(t, flows[0], k, TW, TH, thumbPixels); });
      var lut = luts[state.colormap];
      var g = colorbar.getContext('2d');
      var cb = g.createImageData(256, 10);
      for (var x = 0; x < 256; x++)
        for (var y = 0; y < 10; y++) {
          var o = 4 * (y * 256 + x);
          cb.data[o] = lut[3 * x];
          cb.data[o + 1] = lut[3 * x + 1];
          cb.data[o + 2] = lut[3 * x + 2];
          cb.data[o + 3] = 255;
        }
      g.putImageData(cb, 0, 0);
    }
    var pending = 0;
    function renderAll() {
      if (pending) return;
      pending = requestAnimationFrame(function () {
        pending = 0;
        render();
        renderThumbs();
      });
    }

    function setLayer(i) {
      i = Math.max(0, Math.min(n - 1, Math.round(Number(i))));
      if (!isFinite(i)) return;
      state.layer = i;
      render();
    }
    function start() {
      if (state.playing) return;
      state.playing = true;
      if (state.layer >= n - 1) setLayer(0);
      play.textContent = '❚❚ pause';
      play.setAttribute('aria-pressed', 'true');
      timer = setInterval(function () {
        if (state.layer >= n - 1) stop();
        else setLayer(state.layer + 1);
      }, 1000 / state.fps);
    }
    function stop() {
      state.playing = false;
      if (timer) clearInterval(timer);
      timer = null;
      play.textContent = '▶ play';
      play.setAttribute('aria-pressed', 'false');
    }
    function toggle() {
      if (state.playing) stop();
      else start();
    }

    on(slider, 'input', function () { stop(); setLayer(slider.value); });
    on(prev, 'click', function () { stop(); setLayer(state.layer - 1); });
    on(next, 'click', function () { stop(); setLayer(state.layer + 1); });
    on(play, 'click', toggle);
    on(speed, 'change', function () {
      state.fps = Number(speed.value);
      if (state.playing) { stop(); start(); }
    });
    on(normGroup, 'change', function (e) { state.normalize = e.target.value; renderAll(); });
    on(cmap, 'change', function () { state.colormap = cmap.value; renderAll(); });
    on(opacity, 'input', function () {
      state.opacity = Number(opacity.value) / 100;
      opacityOut.textContent = opacity.value + ' %';
      renderAll();
    });
    if (compare) on(compare, 'change', function () { state.compare = compare.value; render(); });
    on(document, 'keydown', function (e) {
      if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
      var t = e.target;
      var tag = t && t.tagName;
      var typing = tag === 'TEXTAREA' || tag === 'SELECT' || (tag === 'INPUT' && t.type !== 'range' && t.type !== 'radio');
      if (typing) return;
      if (t === slider && e.key !== ' ') return; // the slider moves itself (input event)
      if (tag === 'INPUT' && t !== slider) return; // other sliders and the radios keep their keys
      if (e.key === 'ArrowRight' || e.key === 'ArrowUp') { stop(); setLayer(state.layer + 1); e.preventDefault(); }
      else if (e.key === 'ArrowLeft' || e.key === 'ArrowDown') { stop(); setLayer(state.layer - 1); e.preventDefault(); }
      else if (e.key === 'Home') { stop(); setLayer(0); e.preventDefault(); }
      else if (e.key === 'End') { stop(); setLayer(n - 1); e.preventDefault(); }
      else if (e.key === ' ' && tag !== 'BUTTON') { toggle(); e.preventDefault(); }
    });

    function destroy() {
      stop();
      listeners.forEach(function (x) { x[0].removeEventListener(x[1], x[2]); });
      listeners = [];
      root.textContent = '';
    }

    var api = { destroy: destroy, setLayer: setLayer, state: state, ready: null };
    function withImage() {
      if (!data.image) return Promise.resolve();
      var img = new Image();
      img.src = data.image.src;
      return (img.decode ? img.decode() : new Promise(function (r) { img.onload = r; })).then(function () {
        basePixels = pixelsOf(img, W, H);
        thumbPixels = pixelsOf(img, TW, TH);
      });
    }
    api.ready = withImage().then(function () {
      render();
      renderThumbs();
      root.setAttribute('data-ready', 'true');
    });
    return api;
  }

  /** The evaluation section (`naflow eval --html`): metric-vs-depth plots and tables. */
  function appendEval(root, data) {
    var ev = data.eval;
    if (!ev) return;
    var sec = el('section', { class: 'nv-eval', 'aria-label': 'Evaluation' }, [el('h2', { text: 'Faithfulness against layer depth' })]);
    if (ev.summary) sec.appendChild(el('p', { text: ev.summary }));
    var plots = el('div', { class: 'nv-plots' });
    (ev.plots || []).forEach(function (p) {
      var fig = el('figure', { class: 'nv-plot' });
      var holder = el('div', { role: 'img', 'aria-label': p.label });
      holder.innerHTML = p.svg; // generated by naflow (src/eval/report.ts), escaped there
      fig.appendChild(holder);
      plots.appendChild(fig);
    });
    sec.appendChild(plots);
    (ev.tables || []).forEach(function (t) {
      var table = el('table', { class: 'nv-table' }, [el('caption', { text: t.label })]);
      var thead = el('tr', {}, t.columns.map(function (c) { return el('th', { scope: 'col', text: c }); }));
      table.appendChild(el('thead', {}, [thead]));
      var body = el('tbody');
      t.rows.forEach(function (r) { body.appendChild(el('tr', {}, r.map(function (c, k) { return el(k === 0 ? 'th' : 'td', k === 0 ? { scope: 'row', text: c } : { text: c }); }))); });
      table.appendChild(body);
      sec.appendChild(table);
    });
    root.appendChild(sec);
  }

  window.NaflowViewer = { mount: mount, decodeMap: decodeMap };
})();
