// vigil's status page: plain browser JavaScript, no build step, no dependencies.
//
// Data: GET /status (the instance table, and the timeline's history), refreshed when an
// instance event arrives and every 5 s for the counters. Live: GET /events, read with fetch()
// and a stream reader rather than EventSource, because EventSource cannot send the
// Authorization header: the token comes from the URL fragment (#token=..., which browsers
// never send to the server) and travels only as `Authorization: Bearer`, never in a URL.
// Everything from the daemon is put into the page with textContent, never as HTML.
/* global document, window, fetch, TextDecoder, AbortController, URLSearchParams, clearTimeout */
'use strict';

(function () {
  const token = new URLSearchParams(window.location.hash.slice(1)).get('token');
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const $ = (id) => document.getElementById(id);
  const Node = window.Node;
  const STATES = { initialize: 'INIT', backup: 'BACKUP', master: 'MASTER', fault: 'FAULT', stopped: 'STOPPED' };
  const MAX_TIMELINE = 200;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  function setConn(state, text) {
    const c = $('conn');
    c.dataset.state = state;
    c.textContent = text || state;
  }

  function showError(msg) {
    const e = $('error');
    e.hidden = !msg;
    e.textContent = msg || '';
  }

  function stateBadge(state) {
    return el('span', { class: `state ${state}` }, STATES[state] || state.toUpperCase());
  }

  function timeOf(iso) {
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleTimeString(undefined, { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
  }

  // --- instance table ------------------------------------------------------------------------
  function renderInstances(status) {
    $('daemon').textContent = `pid ${status.pid} · ${status.instances.length} instance(s) · ${status.plugins.length} plugin(s)`;
    const body = $('instances').tBodies[0];
    body.replaceChildren();
    for (const i of status.instances) {
      const trackers = el('ul');
      for (const [src, w] of Object.entries(i.adjustments)) trackers.append(el('li', { class: `tracker ${w < 0 ? 'neg' : w > 0 ? 'pos' : ''}` }, `${src}: ${w > 0 ? '+' : ''}${w}`));
      for (const f of i.faults) trackers.append(el('li', { class: 'tracker neg' }, `${f}: FAULT`));
      if (!trackers.childElementCount) trackers.append(el('li', { class: 'muted' }, 'none'));
      const vips = el('ul');
      for (const v of i.virtualAddresses) vips.append(el('li', {}, v));
      const c = i.counters;
      body.append(
        el(
          'tr',
          { 'data-instance': i.name, 'data-state': i.state },
          el('td', {}, el('strong', {}, i.name)),
          el('td', { class: 'state-cell' }, stateBadge(i.state), i.waitingForInterface ? el('div', { class: 'muted' }, 'waiting for interface') : ''),
          el('td', {}, `${i.vrid} / ${i.interface}`, el('div', { class: 'muted' }, `v${i.version} IPv${i.family}, ${i.advertIntervalCs / 100} s`)),
          el('td', { class: 'num priority' }, `${i.basePriority} / ${i.effectivePriority}`),
          el('td', {}, trackers),
          el('td', { class: 'master-seen' }, i.masterAddress || '-'),
          el('td', {}, vips),
          el('td', { class: 'num' }, c ? `${c.advertsSent} / ${c.advertsReceived}` : '-'),
        ),
      );
    }
  }

  // --- timeline -------------------------------------------------------------------------------
  const seen = new Set();
  function addTimeline(item, live) {
    // history from /status and the same transition arriving live are one entry
    const key = `${item.kind}|${item.instance || ''}|${item.from || ''}|${item.to || ''}|${item.time.slice(0, 19)}`;
    if (seen.has(key)) return;
    seen.add(key);
    const list = $('timeline');
    const attrs = { class: `${item.kind === 'transition' ? 'transition' : 'other'}${live ? ' live' : ''}`, 'data-kind': item.kind };
    if (item.instance) attrs['data-instance'] = item.instance;
    if (item.to) attrs['data-to'] = item.to;
    if (item.from) attrs['data-from'] = item.from;
    const what = item.kind === 'transition' ? el('span', {}, stateBadge(item.from), ' → ', stateBadge(item.to), ` ${item.reason} (priority ${item.priority})${item.detail ? `, ${item.detail}` : ''}`) : el('span', {}, item.text);
    const li = el('li', attrs, el('span', { class: 'when', title: item.time }, timeOf(item.time)), el('strong', {}, item.instance || item.subject || ''), what);
    // newest first, by time (history arrives before or after live events)
    let before = null;
    for (const other of list.children) {
      if (other.firstChild.title <= item.time) {
        before = other;
        break;
      }
    }
    list.insertBefore(li, before);
    while (list.childElementCount > MAX_TIMELINE) list.lastElementChild.remove();
    $('empty').hidden = true;
  }

  function fromEvent(e) {
    switch (e.type) {
      case 'instance.transition':
        return { kind: 'transition', instance: e.instance, from: e.from, to: e.to, reason: e.reason, priority: e.priority, detail: e.detail, time: e.time };
      case 'instance.priority':
        return { kind: 'priority', instance: e.instance, text: `priority ${e.previous} → ${e.effective} (${e.cause})`, time: e.time };
      case 'instance.fault':
        return { kind: 'fault', instance: e.instance, text: `fault ${e.source} ${e.active ? 'set' : 'cleared'}`, time: e.time };
      case 'instance.reasserted':
        return { kind: 'reasserted', instance: e.instance, text: `reasserted against ${e.peer} (priority ${e.peerPriority})`, time: e.time };
      case 'plugin.failed':
        return { kind: 'plugin', subject: e.plugin, text: `failed (${e.cause}): ${e.error}; restart in ${e.restartInMs} ms`, time: e.time };
      case 'plugin.restarted':
        return { kind: 'plugin', subject: e.plugin, text: `restarted (${e.restarts})`, time: e.time };
      case 'config.reloaded':
        return { kind: 'config', subject: 'config', text: `reloaded; updated: ${e.updated.join(', ') || '-'}; re-created: ${e.recreated.join(', ') || '-'}`, time: e.time };
      case 'config.rejected':
        return { kind: 'config', subject: 'config', text: `reload rejected: ${e.errors.length} error(s)`, time: e.time };
      default:
        return null;
    }
  }

  // --- data -----------------------------------------------------------------------------------
  let refreshTimer;
  async function refresh() {
    clearTimeout(refreshTimer);
    try {
      const r = await fetch('status', { headers, cache: 'no-store' });
      if (r.status === 401) return unauthorized();
      if (!r.ok) throw new Error(`status: HTTP ${r.status}`);
      const status = await r.json();
      renderInstances(status);
      for (const i of status.instances) for (const t of i.transitions) addTimeline({ kind: 'transition', instance: i.name, ...t }, false);
      showError('');
    } catch (e) {
      showError(`cannot read status: ${e.message}`);
    }
  }
  function refreshSoon() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, 150);
  }

  let stopped = false;
  function unauthorized() {
    stopped = true;
    setConn('unauthorized', 'unauthorized');
    showError(token ? 'The token in the URL was refused.' : 'This daemon needs a token: open the page as …/#token=YOUR_TOKEN (the fragment is never sent to the server).');
  }

  // server-sent events over fetch: split the stream into blocks, take the data lines
  async function follow() {
    let delay = 1000;
    while (!stopped) {
      const abort = new AbortController();
      try {
        const r = await fetch('events', { headers: { ...headers, accept: 'text/event-stream' }, cache: 'no-store', signal: abort.signal });
        if (r.status === 401) return unauthorized();
        if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
        setConn('live', 'live');
        delay = 1000;
        // the stream is open: what happened before it is in /status
        void refresh();
        const reader = r.body.getReader();
        const decoder = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += decoder.decode(value, { stream: true });
          let end;
          while ((end = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, end);
            buf = buf.slice(end + 2);
            const data = block
              .split('\n')
              .filter((l) => l.startsWith('data:'))
              .map((l) => l.slice(5).trimStart())
              .join('\n');
            if (!data) continue;
            const event = JSON.parse(data);
            const item = fromEvent(event);
            if (item) addTimeline(item, true);
            if (event.type.startsWith('instance.') || event.type.startsWith('config.') || event.type.startsWith('plugin.')) refreshSoon();
          }
        }
        throw new Error('stream ended');
      } catch (e) {
        abort.abort();
        if (stopped) return;
        setConn('reconnecting', `reconnecting (${e.message})`);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 15000);
      }
    }
  }

  setInterval(() => {
    if (!stopped) void refresh();
  }, 5000);
  void refresh();
  void follow();
})();
