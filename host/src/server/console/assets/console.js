// Switchboard console: live updates from the tenant's event stream, and
// copy buttons. Loaded as a file (the pages' Content-Security-Policy
// allows no inline script); the pages work without it, only not live.
(function () {
  'use strict';

  // Copy buttons: <button data-copy="<input id>">.
  document.addEventListener('click', function (ev) {
    var button = ev.target.closest && ev.target.closest('button[data-copy]');
    if (!button) return;
    var input = document.getElementById(button.getAttribute('data-copy'));
    if (!input) return;
    var done = function () {
      var label = button.textContent;
      button.textContent = 'Copied';
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(input.value).then(done, function () {
        input.select(); document.execCommand('copy'); done();
      });
    } else {
      input.select(); document.execCommand('copy'); done();
    }
  });

  var liveMeta = document.querySelector('meta[name="live"]');
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  if (!liveMeta || !csrfMeta || !window.WebSocket || !window.fetch) return;
  var live = liveMeta.getAttribute('content');
  var csrf = csrfMeta.getAttribute('content');
  var conversation = live.indexOf('conversation:') === 0 ? live.slice('conversation:'.length) : null;
  var types = 'message.created,message.updated,conversation.created,conversation.updated';
  var after = null;
  var delay = 500;
  var pending = null;

  // Re-render the live parts of the page from a fresh copy of it.
  function refresh() {
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      fetch(window.location.href, { credentials: 'same-origin', headers: { 'Accept': 'text/html' } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var doc = new DOMParser().parseFromString(html, 'text/html');
          ['live-region', 'conv-head'].forEach(function (id) {
            var fresh = doc.getElementById(id);
            var current = document.getElementById(id);
            // Only what changed: a control someone is about to use stays.
            if (fresh && current && fresh.innerHTML !== current.innerHTML) {
              current.replaceWith(document.importNode(fresh, true));
            }
          });
          document.body.setAttribute('data-refreshed', String(Date.now()));
        })
        .catch(function () { /* the next event tries again */ });
    }, 150);
  }

  function concerns(ev) {
    if (!conversation) return true;
    var d = ev.data || {};
    return d.conversation_id === conversation || d.id === conversation;
  }

  function connect() {
    fetch('/v1/events/tokens', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'X-CSRF-Token': csrf }
    })
      .then(function (r) { if (!r.ok) throw new Error('token ' + r.status); return r.json(); })
      .then(function (t) {
        var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
          '/v1/events?types=' + encodeURIComponent(types) + '&token=' + encodeURIComponent(t.token) +
          (after ? '&after=' + encodeURIComponent(after) : '');
        var ws = new WebSocket(url);
        ws.onopen = function () {
          delay = 500;
          document.body.setAttribute('data-live', 'on');
          // Whatever changed while the socket was down.
          if (after === null) after = '';
          refresh();
        };
        ws.onmessage = function (m) {
          var ev;
          try { ev = JSON.parse(m.data); } catch (e) { return; }
          if (ev && ev.id) after = ev.id;
          if (ev && concerns(ev)) refresh();
        };
        ws.onclose = function () {
          document.body.setAttribute('data-live', 'off');
          retry();
        };
      })
      .catch(retry);
  }

  function retry() {
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 10000);
  }

  connect();
})();
