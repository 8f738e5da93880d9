/*
 * Switchboard web chat widget.
 *
 * Plain JavaScript, no dependency, no inline style or markup: every node is
 * built with the DOM API so that a message can never inject HTML, and the
 * page may run under a strict Content-Security-Policy. Speaks the visitor
 * protocol described in docs/webchat.md.
 */
(function () {
  'use strict';

  if (typeof window === 'undefined' || typeof document === 'undefined') return;
  if (window.SwitchboardWebchat) return; // loaded twice: keep the first one

  var script = document.currentScript;
  if (!script || !script.getAttribute || !script.getAttribute('data-channel')) {
    script = document.querySelector('script[data-channel][src*="widget.js"]');
  }
  if (!script) return;

  var channel = script.getAttribute('data-channel');
  if (!channel) return;
  var userId = script.getAttribute('data-user-id') || '';
  var userHash = script.getAttribute('data-user-hash') || '';

  var base;
  try {
    var srcUrl = new URL(script.getAttribute('src'), document.baseURI);
    var path = srcUrl.pathname;
    var at = path.lastIndexOf('/widget.js');
    var prefix = at >= 0 ? path.slice(0, at) : path.replace(/\/[^\/]*$/, '');
    base = srcUrl.origin + prefix;
  } catch (e) {
    return;
  }

  // -- constants -----------------------------------------------------------

  var STORAGE_KEY = 'switchboard.webchat.' + channel;
  var MAX_LEN = 4096;
  var BACKOFF_MIN = 500;
  var BACKOFF_MAX = 10000;
  var TYPING_TIMEOUT = 30000;
  var DEFAULT_COLOR = '#0b5fff';
  var COLOR_RE = /^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$/;
  var STATUS_TEXT = { received: 'Sent', sent: 'Sent', delivered: 'Delivered', read: 'Read' };
  var ERROR_TEXT = {
    message_too_long: 'The message is too long.',
    rate_limited: 'Too many messages, please wait a moment.',
    invalid_frame: 'The message could not be read.',
    unavailable: 'The message could not be stored.',
    blocked: 'The message was refused.'
  };
  var SVG_NS = 'http://www.w3.org/2000/svg';

  // -- state storage ---------------------------------------------------------

  var memoryState = null; // used when localStorage is unavailable

  function loadState() {
    if (memoryState) return memoryState;
    try {
      var raw = window.localStorage.getItem(STORAGE_KEY);
      var s = raw ? JSON.parse(raw) : null;
      return s && typeof s === 'object' ? s : {};
    } catch (e) {
      memoryState = memoryState || {};
      return memoryState;
    }
  }

  function saveState(patch) {
    var s = loadState();
    var next = {};
    var k;
    for (k in s) if (Object.prototype.hasOwnProperty.call(s, k)) next[k] = s[k];
    for (k in patch) if (Object.prototype.hasOwnProperty.call(patch, k)) next[k] = patch[k];
    if (memoryState) {
      memoryState = next;
      return;
    }
    try {
      window.localStorage.setItem(STORAGE_KEY, JSON.stringify(next));
    } catch (e) {
      memoryState = next;
    }
  }

  // Cursors are fixed-width strings (evt_000000000000002a); a longer one is
  // later, otherwise compare as strings.
  function cursorAfter(a, b) {
    if (!b) return true;
    if (a.length !== b.length) return a.length > b.length;
    return a > b;
  }

  // -- helpers ---------------------------------------------------------------

  var uid = 0;
  function nextId(name) {
    uid += 1;
    return 'sbw-' + name + '-' + uid + '-' + Math.random().toString(36).slice(2, 8);
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  function newClientId() {
    try {
      if (window.crypto && typeof window.crypto.randomUUID === 'function') {
        return window.crypto.randomUUID();
      }
    } catch (e) { /* fall through */ }
    var bytes = new Uint8Array(16);
    try {
      window.crypto.getRandomValues(bytes);
    } catch (e) {
      for (var i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    var hex = '';
    for (var j = 0; j < bytes.length; j++) hex += (bytes[j] < 16 ? '0' : '') + bytes[j].toString(16);
    return hex;
  }

  // Relative luminance, to pick white or near-black text on the brand colour.
  function textOn(color) {
    var hex = color.slice(1);
    if (hex.length === 3) hex = hex[0] + hex[0] + hex[1] + hex[1] + hex[2] + hex[2];
    var lum = 0;
    var weights = [0.2126, 0.7152, 0.0722];
    for (var i = 0; i < 3; i++) {
      var c = parseInt(hex.substr(i * 2, 2), 16) / 255;
      c = c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
      lum += weights[i] * c;
    }
    // contrast against white: 1.05 / (lum + 0.05); against #111: (lum + 0.05) / 0.0556
    return 1.05 / (lum + 0.05) >= (lum + 0.05) / 0.0556 ? '#ffffff' : '#111111';
  }

  var URL_RE = /https?:\/\/[^\s<>"'`]+/gi;
  var TRAILING_RE = /[.,;:!?)\]}'"]+$/;

  // Appends `text` to `parent`, http(s) URLs as links, the rest as text nodes.
  function renderText(parent, text) {
    while (parent.firstChild) parent.removeChild(parent.firstChild);
    var last = 0;
    var m;
    URL_RE.lastIndex = 0;
    while ((m = URL_RE.exec(text)) !== null) {
      var raw = m[0];
      var trail = raw.match(TRAILING_RE);
      // keep a closing parenthesis that belongs to the URL, e.g. wiki links
      if (trail && trail[0].charAt(0) === ')' && raw.indexOf('(') >= 0) trail = null;
      var link = trail ? raw.slice(0, raw.length - trail[0].length) : raw;
      var href = null;
      try {
        var u = new URL(link);
        if (u.protocol === 'http:' || u.protocol === 'https:') href = u.href;
      } catch (e) { /* not a URL: keep as text */ }
      if (!href || link.length <= 8) continue;
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      var a = document.createElement('a');
      a.href = href;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      a.textContent = link;
      parent.appendChild(a);
      last = m.index + link.length;
      URL_RE.lastIndex = last;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) node.setAttribute(k, attrs[k]);
    return node;
  }

  function bubbleIcon() {
    var icon = svg('svg', {
      'class': 'sbw-icon', viewBox: '0 0 24 24', width: '28', height: '28',
      'aria-hidden': 'true', focusable: 'false'
    });
    icon.appendChild(svg('path', {
      fill: 'currentColor',
      d: 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z'
    }));
    return icon;
  }

  function closeIcon() {
    var icon = svg('svg', {
      'class': 'sbw-icon', viewBox: '0 0 24 24', width: '20', height: '20',
      'aria-hidden': 'true', focusable: 'false'
    });
    icon.appendChild(svg('path', {
      fill: 'none', stroke: 'currentColor', 'stroke-width': '2.5', 'stroke-linecap': 'round',
      d: 'M6 6l12 12M18 6L6 18'
    }));
    return icon;
  }

  // -- DOM -------------------------------------------------------------------

  var ui = null;

  function build() {
    var root = el('div', 'sbw-root');
    root.style.setProperty('--sbw-color', DEFAULT_COLOR);
    root.style.setProperty('--sbw-on-color', textOn(DEFAULT_COLOR));

    var panelId = nextId('panel');
    var titleId = nextId('title');

    var launcher = el('button', 'sbw-launcher');
    launcher.type = 'button';
    launcher.setAttribute('aria-label', 'Open chat');
    launcher.setAttribute('aria-expanded', 'false');
    launcher.setAttribute('aria-controls', panelId);
    launcher.appendChild(bubbleIcon());
    var unread = el('span', 'sbw-unread');
    unread.setAttribute('aria-hidden', 'true');
    unread.hidden = true;
    launcher.appendChild(unread);

    var announcer = el('div', 'sbw-sr');
    announcer.setAttribute('aria-live', 'polite');

    var panel = el('section', 'sbw-panel');
    panel.id = panelId;
    panel.setAttribute('role', 'dialog');
    panel.setAttribute('aria-modal', 'false');
    panel.setAttribute('aria-labelledby', titleId);
    panel.hidden = true;

    var header = el('div', 'sbw-header');
    var title = el('h2', 'sbw-title', 'Chat');
    title.id = titleId;
    var closeBtn = el('button', 'sbw-close');
    closeBtn.type = 'button';
    closeBtn.setAttribute('aria-label', 'Close chat');
    closeBtn.appendChild(closeIcon());
    header.appendChild(title);
    header.appendChild(closeBtn);

    var banner = el('div', 'sbw-error');
    banner.setAttribute('role', 'alert');
    banner.hidden = true;

    var log = el('div', 'sbw-log');
    log.setAttribute('role', 'log');
    log.setAttribute('aria-live', 'polite');
    log.setAttribute('aria-label', 'Conversation');
    log.tabIndex = 0;

    var greeting = el('div', 'sbw-greeting');
    greeting.hidden = true;
    var greetingText = el('div', 'sbw-text');
    greeting.appendChild(greetingText);
    log.appendChild(greeting);

    var typing = el('div', 'sbw-typing', 'Typing\u2026');
    typing.setAttribute('aria-live', 'polite');
    typing.hidden = true;

    var form = el('form', 'sbw-form');
    form.noValidate = true;
    var textarea = el('textarea', 'sbw-input');
    textarea.setAttribute('aria-label', 'Message');
    textarea.setAttribute('rows', '1');
    textarea.setAttribute('maxlength', String(MAX_LEN));
    textarea.placeholder = 'Write a message\u2026';
    var send = el('button', 'sbw-send', 'Send');
    send.type = 'submit';
    form.appendChild(textarea);
    form.appendChild(send);

    panel.appendChild(header);
    panel.appendChild(banner);
    panel.appendChild(log);
    panel.appendChild(typing);
    panel.appendChild(form);

    root.appendChild(panel);
    root.appendChild(launcher);
    root.appendChild(announcer);

    ui = {
      root: root, launcher: launcher, unread: unread, announcer: announcer,
      panel: panel, title: title, closeBtn: closeBtn, banner: banner, log: log,
      greeting: greeting, greetingText: greetingText, typing: typing,
      form: form, textarea: textarea
    };

    launcher.addEventListener('click', function () {
      if (ui.panel.hidden) open(); else close();
    });
    closeBtn.addEventListener('click', function () { close(); });
    panel.addEventListener('keydown', function (ev) {
      if (ev.key === 'Escape' || ev.key === 'Esc') {
        ev.preventDefault();
        ev.stopPropagation();
        close();
      }
    });
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      submit();
    });
    textarea.addEventListener('keydown', function (ev) {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
        ev.preventDefault();
        submit();
      }
    });
    textarea.addEventListener('input', autosize);
  }

  function autosize() {
    var t = ui.textarea;
    if (t.offsetParent === null) return; // not rendered: nothing to measure
    t.style.height = 'auto';
    t.style.height = (t.scrollHeight + t.offsetHeight - t.clientHeight) + 'px';
  }

  function scrollToBottom() {
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  var bannerKind = null; // 'connection' | 'error'
  var bannerTimer = null;

  function showBanner(text, kind) {
    if (bannerTimer) { clearTimeout(bannerTimer); bannerTimer = null; }
    bannerKind = kind;
    if (ui.banner.textContent !== text) ui.banner.textContent = text;
    ui.banner.hidden = false;
    if (kind === 'error') {
      bannerTimer = setTimeout(function () { hideBanner('error'); }, 10000);
    }
  }

  function hideBanner(kind) {
    if (kind && bannerKind !== kind) return;
    if (bannerTimer) { clearTimeout(bannerTimer); bannerTimer = null; }
    bannerKind = null;
    ui.banner.hidden = true;
    ui.banner.textContent = '';
  }

  // -- open / close ------------------------------------------------------------

  function open() {
    if (!ui) return;
    ui.panel.hidden = false;
    ui.launcher.setAttribute('aria-expanded', 'true');
    ui.root.classList.add('sbw-open');
    ui.unread.hidden = true;
    ui.announcer.textContent = '';
    scrollToBottom();
    autosize();
    try { ui.textarea.focus(); } catch (e) { /* ignore */ }
  }

  function close() {
    if (!ui) return;
    var hadFocus = ui.panel.contains(document.activeElement);
    ui.panel.hidden = true;
    ui.launcher.setAttribute('aria-expanded', 'false');
    ui.root.classList.remove('sbw-open');
    if (hadFocus) {
      try { ui.launcher.focus(); } catch (e) { /* ignore */ }
    }
  }

  function isOpen() {
    return !!ui && !ui.panel.hidden;
  }

  // -- messages ----------------------------------------------------------------

  var byId = {};       // message id -> record
  var byClient = {};   // client_id -> record (the visitor's messages sent from this page)
  var pending = [];    // records not yet acknowledged, in send order
  var deliveredSent = {};

  // record: {el, textEl, statusEl, id, clientId, direction, text, status, failed}

  function makeRecord(direction) {
    var node = el('div', 'sbw-msg ' + (direction === 'inbound' ? 'sbw-in' : 'sbw-out'));
    var textEl = el('div', 'sbw-text');
    node.appendChild(textEl);
    var rec = { el: node, textEl: textEl, statusEl: null, id: null, clientId: null,
      direction: direction, text: null, status: null, failed: null };
    if (direction === 'inbound') {
      rec.statusEl = el('div', 'sbw-status');
      node.appendChild(rec.statusEl);
    }
    return rec;
  }

  function setText(rec, text) {
    if (rec.text === text) return;
    rec.text = text;
    renderText(rec.textEl, text);
  }

  function renderStatus(rec) {
    if (!rec.statusEl) return;
    var s = rec.statusEl;
    while (s.firstChild) s.removeChild(s.firstChild);
    if (rec.failed != null) {
      rec.el.classList.add('sbw-failed');
      s.appendChild(el('span', null, 'Not sent: ' + rec.failed));
      s.appendChild(document.createTextNode(' '));
      var retry = el('button', 'sbw-retry', 'Retry');
      retry.type = 'button';
      retry.setAttribute('aria-label', 'Retry sending');
      retry.addEventListener('click', function () { retrySend(rec); });
      s.appendChild(retry);
      return;
    }
    rec.el.classList.remove('sbw-failed');
    if (!rec.id) {
      s.textContent = 'Sending\u2026';
    } else {
      s.textContent = STATUS_TEXT[rec.status] || 'Sent';
    }
  }

  function appendMessage(rec) {
    ui.log.appendChild(rec.el);
    scrollToBottom();
  }

  function assignId(rec, id) {
    rec.id = id;
    byId[id] = rec;
    rec.el.setAttribute('data-id', id);
    rec.el.removeAttribute('data-client-id');
    removePending(rec);
  }

  function removePending(rec) {
    var i = pending.indexOf(rec);
    if (i >= 0) pending.splice(i, 1);
  }

  function onMessageFrame(f) {
    if (typeof f.id !== 'string' || !f.id) return;
    if (f.direction !== 'inbound' && f.direction !== 'outbound') return;
    var text = typeof f.text === 'string' ? f.text : '';
    if (typeof f.cursor === 'string' && f.cursor) noteCursor(f.cursor);

    var rec = byId[f.id];
    var isNew = false;
    if (!rec && f.direction === 'inbound' && typeof f.client_id === 'string' && byClient[f.client_id] &&
        !byClient[f.client_id].id) {
      // our own message, stored before its ack reached us
      rec = byClient[f.client_id];
      rec.failed = null;
      assignId(rec, f.id);
    }
    if (!rec) {
      rec = makeRecord(f.direction);
      rec.id = f.id;
      byId[f.id] = rec;
      rec.el.setAttribute('data-id', f.id);
      isNew = true;
    }
    setText(rec, text);
    if (typeof f.status === 'string') rec.status = f.status;
    renderStatus(rec);
    if (isNew) appendMessage(rec);

    if (f.direction === 'outbound') {
      hideTyping();
      var seen = rec.status === 'delivered' || rec.status === 'read';
      if (!seen && !deliveredSent[f.id] && socketOpen()) {
        deliveredSent[f.id] = true;
        sendFrame({ type: 'delivered', id: f.id });
      }
      if (isNew && !seen && !isOpen()) {
        ui.unread.hidden = false;
        ui.announcer.textContent = '';
        ui.announcer.textContent = 'New chat message';
      }
    }
  }

  function onAck(f) {
    if (typeof f.client_id !== 'string' || typeof f.id !== 'string' || !f.id) return;
    var rec = byClient[f.client_id];
    hideBanner('error');
    if (!rec) return;
    if (rec.id === f.id) { removePending(rec); return; }
    var existing = byId[f.id];
    if (existing && existing !== rec) {
      // the message frame arrived first and made its own element: keep that one
      removePending(rec);
      if (rec.el.parentNode) rec.el.parentNode.removeChild(rec.el);
      byClient[f.client_id] = existing;
      existing.clientId = f.client_id;
      return;
    }
    rec.failed = null;
    assignId(rec, f.id);
    if (!rec.status) rec.status = 'received';
    renderStatus(rec);
  }

  function onError(f) {
    var code = typeof f.code === 'string' ? f.code : '';
    var msg = typeof f.message === 'string' && f.message ? f.message : (ERROR_TEXT[code] || 'Something went wrong.');
    var rec = typeof f.client_id === 'string' ? byClient[f.client_id] : null;
    if (rec && !rec.id) {
      removePending(rec);
      rec.failed = msg;
      renderStatus(rec);
      return;
    }
    showBanner(msg, 'error');
  }

  function submit() {
    var raw = ui.textarea.value;
    var text = raw.replace(/^\s+|\s+$/g, '');
    if (!text) return;
    if (text.length > MAX_LEN) text = text.slice(0, MAX_LEN);
    ui.textarea.value = '';
    autosize();
    try { ui.textarea.focus(); } catch (e) { /* ignore */ }

    var rec = makeRecord('inbound');
    rec.clientId = newClientId();
    rec.el.setAttribute('data-client-id', rec.clientId);
    byClient[rec.clientId] = rec;
    setText(rec, text);
    renderStatus(rec);
    appendMessage(rec);
    pending.push(rec);
    if (sessionReady) sendMessage(rec);
  }

  function retrySend(rec) {
    if (rec.id) return;
    // A fresh client_id: the refused one may be remembered by the host.
    delete byClient[rec.clientId];
    rec.clientId = newClientId();
    byClient[rec.clientId] = rec;
    rec.el.setAttribute('data-client-id', rec.clientId);
    rec.failed = null;
    renderStatus(rec);
    // move it to the end: it is sent now
    ui.log.appendChild(rec.el);
    scrollToBottom();
    pending.push(rec);
    if (sessionReady) sendMessage(rec);
    try { ui.textarea.focus(); } catch (e) { /* ignore */ }
  }

  function sendMessage(rec) {
    sendFrame({ type: 'message', client_id: rec.clientId, text: rec.text });
  }

  // -- typing ------------------------------------------------------------------

  var typingTimer = null;

  function showTyping() {
    ui.typing.hidden = false;
    if (typingTimer) clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, TYPING_TIMEOUT);
    if (isOpen()) scrollToBottom();
  }

  function hideTyping() {
    if (typingTimer) { clearTimeout(typingTimer); typingTimer = null; }
    if (ui) ui.typing.hidden = true;
  }

  // -- session -----------------------------------------------------------------

  function onSession(f) {
    if (typeof f.visitor_token === 'string' && f.visitor_token) {
      saveState({ token: f.visitor_token, user: userId || null });
    }
    ui.title.textContent = typeof f.title === 'string' && f.title ? f.title : 'Chat';
    var color = typeof f.color === 'string' && COLOR_RE.test(f.color) ? f.color : DEFAULT_COLOR;
    ui.root.style.setProperty('--sbw-color', color);
    ui.root.style.setProperty('--sbw-on-color', textOn(color));
    var greeting = typeof f.greeting === 'string' ? f.greeting : '';
    if (greeting) {
      if (ui.greetingText.textContent !== greeting) renderText(ui.greetingText, greeting);
      ui.greeting.hidden = false;
    } else {
      ui.greeting.hidden = true;
    }

    if (droppedToken) {
      // The stored token was refused: this is a new conversation.
      droppedToken = false;
      for (var id in byId) {
        if (Object.prototype.hasOwnProperty.call(byId, id)) {
          var r = byId[id];
          if (r.el.parentNode) r.el.parentNode.removeChild(r.el);
        }
      }
      byId = {};
      deliveredSent = {};
    }

    sessionReady = true;
    everConnected = true;
    failures = 0;
    backoff = BACKOFF_MIN;
    hideBanner('connection');
    var queue = pending.slice();
    for (var i = 0; i < queue.length; i++) sendMessage(queue[i]);
  }

  // -- socket ------------------------------------------------------------------

  var ws = null;
  var sessionReady = false;
  var everConnected = false;
  var pageCursor = null;     // the last cursor this page saw: `after` on reconnect
  var backoff = BACKOFF_MIN;
  var failures = 0;          // consecutive attempts that ended without a session
  var droppedToken = false;
  var reconnectTimer = null;

  function noteCursor(c) {
    if (cursorAfter(c, pageCursor)) pageCursor = c;
    var stored = loadState().cursor;
    if (typeof stored !== 'string' || cursorAfter(c, stored)) saveState({ cursor: c });
  }

  function socketOpen() {
    return !!ws && ws.readyState === 1;
  }

  function sendFrame(obj) {
    if (!socketOpen()) return false;
    try {
      ws.send(JSON.stringify(obj));
      return true;
    } catch (e) {
      return false;
    }
  }

  function socketUrl(useToken) {
    var wsBase = base.replace(/^http:/i, 'ws:').replace(/^https:/i, 'wss:');
    var url = wsBase + '/webchat/' + encodeURIComponent(channel) + '/socket';
    var params = [];
    var state = loadState();
    var token = typeof state.token === 'string' ? state.token : '';
    // a token (and cursor) stored for another signed-in user is not ours
    if ((state.user || null) !== (userId || null)) token = '';
    if (token && useToken) params.push('token=' + encodeURIComponent(token));
    // `after` only once this page has a transcript to resume: a fresh page
    // load asks for the latest history instead.
    if (pageCursor && !droppedToken) params.push('after=' + encodeURIComponent(pageCursor));
    if (userId) params.push('user_id=' + encodeURIComponent(userId));
    if (userHash) params.push('user_hash=' + encodeURIComponent(userHash));
    return { url: params.length ? url + '?' + params.join('&') : url, hadToken: !!token };
  }

  function connect() {
    reconnectTimer = null;
    if (ws) return;
    // After three refused attempts with a stored token, try once without
    // it: the token may no longer be valid (e.g. the tenant was reset).
    var withoutToken = failures >= 3 && failures % 4 === 3;
    var target = socketUrl(!withoutToken);
    if (withoutToken && target.hadToken) droppedToken = true;
    var sock;
    try {
      sock = new WebSocket(target.url);
    } catch (e) {
      failures += 1;
      droppedToken = false;
      showBanner('Chat is unavailable on this page.', 'connection');
      scheduleReconnect();
      return;
    }
    ws = sock;
    var gotSession = false;
    sock.onmessage = function (ev) {
      if (ws !== sock) return;
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (!f || typeof f !== 'object' || typeof f.type !== 'string') return;
      try {
        switch (f.type) {
          case 'session': gotSession = true; onSession(f); break;
          case 'message': onMessageFrame(f); break;
          case 'ack': onAck(f); break;
          case 'typing': if (f.active === true) showTyping(); else hideTyping(); break;
          case 'error': onError(f); break;
          default: break; // unknown frame: ignore
        }
      } catch (e) { /* a bad frame must not break the widget */ }
    };
    sock.onerror = function () { /* onclose follows */ };
    sock.onclose = function (ev) {
      if (ws !== sock) return;
      ws = null;
      sessionReady = false;
      hideTyping();
      if (!gotSession) {
        failures += 1;
        if (droppedToken) droppedToken = false;
      }
      if (ev && ev.code === 1013) {
        showBanner('Chat is busy, trying again\u2026', 'connection');
      } else if (everConnected) {
        showBanner('Reconnecting\u2026', 'connection');
      } else {
        showBanner('Chat is unavailable on this page.', 'connection');
      }
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    if (reconnectTimer) return;
    var delay = backoff;
    backoff = Math.min(backoff * 2, BACKOFF_MAX);
    reconnectTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (ws || !reconnectTimer) return;
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    connect();
  }

  // -- start -------------------------------------------------------------------

  window.SwitchboardWebchat = {
    open: function () { open(); },
    close: function () { close(); }
  };

  function start() {
    if (ui) return;
    var link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = base + '/widget.css';
    (document.head || document.documentElement).appendChild(link);
    build();
    document.body.appendChild(ui.root);
    window.addEventListener('online', reconnectNow);
    connect();
  }

  if (document.body) {
    start();
  } else {
    document.addEventListener('DOMContentLoaded', start);
  }
})();
